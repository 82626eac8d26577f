# A stand-in for denoland/deno:debian-<version>, made only when no registry can be reached. Laid
# out like the official image (github.com/denoland/deno_docker, debian.dockerfile): the deno
# binary at /usr/bin/deno (from the npm package "deno"), user deno 1993:1993, DENO_DIR owned by
# it, tini as init, and an entrypoint that runs deno for deno's own subcommands and options.
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN useradd --uid 1993 --user-group deno \
  && mkdir /deno-dir/ \
  && chown deno:deno /deno-dir/
ENV DENO_USE_CGROUPS=1
ENV DENO_DIR=/deno-dir/
ENV DENO_INSTALL_ROOT=/usr/local
ARG DENO_VERSION
ENV DENO_VERSION=${DENO_VERSION}
COPY deno /usr/bin/deno
COPY tini /tini
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL landscape.stand-in="denoland/deno:debian-${DENO_VERSION}"
ENTRYPOINT ["/tini", "--", "docker-entrypoint.sh"]
CMD ["eval", "console.log('Welcome to Deno!')"]
