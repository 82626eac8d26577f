#!/bin/sh
# The default user from RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS, as the official image
# takes them, written where the pod may write (/tmp is a volume; the root file system is not).
set -eu
{
  echo "loopback_users = none"
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = ${RABBITMQ_DEFAULT_USER}"; fi
  if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = ${RABBITMQ_DEFAULT_PASS}"; fi
} > "${RABBITMQ_CONFIG_FILE}"
exec rabbitmq-server "$@"
