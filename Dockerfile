# The image of one service on Deno; skaffold.yaml builds each of the four with its arguments:
#   docker build --build-arg SERVICE=accountservice --build-arg PORT=6767 --build-arg STATE=stateful .
#
# SERVICE  the folder under services/ to run
# PORT     the port it listens on (its default in code and the chart's)
# STATE    stateful: LMDB under /data, a volume (accountservice, vipservice); stateless: no writes
ARG STATE=stateless

# Deno runs the TypeScript as is and takes npm packages from node_modules
# (deno.json: "nodeModulesDir": "manual"); npm installs the production ones (.npmrc: no peers).
FROM node:24.19.0-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=peer --no-audit --no-fund

# What every service shares: the Deno version package-lock.json installs for the tests, the
# dependencies and lib/.
FROM denoland/deno:debian-2.9.6 AS runtime
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json deno.json ./
# Writable for the deno user so that `skaffold dev` can sync changed sources into a dev pod; the
# chart runs production pods on a read-only root file system. OpenShift runs the image as an
# arbitrary user in group 0 instead (its restricted-v2 SCC): what a process of the image may write
# (Deno's cache DENO_DIR, the synced sources, /data below) belongs to group 0, which may do what
# the owner may (OpenShift's image guideline: chgrp -R 0, chmod -R g=u).
COPY --chown=1993:0 lib ./lib
USER root
RUN chgrp -R 0 "$DENO_DIR" lib && chmod -R g=u "$DENO_DIR" lib
USER 1993:1993
# Every interface of the pod, not only its loopback, in both address families: a dual-stack
# socket on an IPv6-only, dual-stack or IPv4-only cluster alike, and 0.0.0.0 on a node booted
# without IPv6 (the service says so in one log line).
ENV HOST=::

# Permissions: network, environment, host name and addresses (sys), reading the app.
# --cached-only: everything is in the image, nothing is fetched at start. tini, the base
# image's init, passes the stop signal on.
FROM runtime AS stateless
ENTRYPOINT ["/tini", "--", "deno", "run", "--cached-only", "--allow-net", "--allow-env", "--allow-sys", "--allow-read=/app"]

# Also reading and writing /data (LMDB's directory; the chart mounts a volume there) and
# loading LMDB's native addon from node_modules (ffi). Group 0's too, for any user OpenShift
# assigns; setgid, so that what any user writes there stays group 0's (the service's umask, 002,
# keeps it group-writable for the next user).
FROM runtime AS stateful
USER root
RUN mkdir /data && chown 1993:0 /data && chmod 2775 /data
USER 1993:1993
ENV DATA_DIR=/data
ENTRYPOINT ["/tini", "--", "deno", "run", "--cached-only", "--allow-net", "--allow-env", "--allow-sys", "--allow-read=/app,/data", "--allow-write=/data", "--allow-ffi=/app/node_modules"]

FROM ${STATE}
ARG SERVICE
ARG PORT
COPY --chown=1993:0 services/${SERVICE} ./services/${SERVICE}
USER root
RUN test -f "services/${SERVICE}/main.ts" || { echo "build with --build-arg SERVICE=<a folder of services/>" >&2; exit 1; }; \
  chmod -R g=u "services/${SERVICE}"
USER 1993:1993
# The service's folder is the working directory, so that every image has the same command.
WORKDIR /app/services/${SERVICE}
ENV PORT=${PORT}
EXPOSE ${PORT}
# The chart's dev mode runs [--watch, main.ts] instead: Deno restarts on synced changes.
CMD ["main.ts"]
