# The container check's edge: Debian's nginx, configured from the rendered Ingress (edge.ts).
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null \
  && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["nginx", "-g", "daemon off;", "-c", "/etc/nginx/edge/nginx.conf"]
