# A stand-in for the chart's RabbitMQ image, made only when no registry can be reached: Debian's
# rabbitmq-server, as the user the chart runs the broker as (999:999), in the foreground and
# logging to stdout like the official image, whose RABBITMQ_DEFAULT_USER and
# RABBITMQ_DEFAULT_PASS it honours.
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN groupadd --system --gid 999 rabbitmq \
  && useradd --system --uid 999 --gid rabbitmq --home-dir /var/lib/rabbitmq --no-create-home rabbitmq \
  && apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null \
  && rm -rf /var/lib/apt/lists/* /var/lib/rabbitmq/* /var/log/rabbitmq/*
COPY rabbitmq-entrypoint.sh /usr/local/bin/rabbitmq-entrypoint.sh
ENV HOME=/var/lib/rabbitmq PATH=/usr/lib/rabbitmq/bin:$PATH RABBITMQ_LOGS=- RABBITMQ_CONFIG_FILE=/tmp/rabbitmq.conf
ARG REFERENCE
LABEL landscape.stand-in="${REFERENCE}"
USER 999:999
EXPOSE 5672
ENTRYPOINT ["rabbitmq-entrypoint.sh"]
