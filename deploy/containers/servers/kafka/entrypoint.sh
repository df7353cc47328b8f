#!/bin/bash
# Kafka as deploy/local/stack configures it, from the same server.properties.in: the SASL
# listener on all the container's addresses (advertised as KAFKA_ADVERTISED_HOST:PORT), the
# controller on 127.0.0.1:9093. At first start (empty /var/lib/kafka/data) the storage is
# formatted with the SCRAM credentials of KAFKA_SCRAM_CREDENTIALS (+ admin). docs/containers.md.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true  # `&` in a password is a character, not the match
if [ -z "${KAFKA_ADMIN_PASSWORD:-}" ]; then
  echo "refusé : KAFKA_ADMIN_PASSWORD est requis (refused: KAFKA_ADMIN_PASSWORD is required)" >&2
  exit 1
fi
data=/var/lib/kafka/data
conf=/tmp/kafka/server.properties
host=${KAFKA_ADVERTISED_HOST:-$(hostname)}
port=${KAFKA_ADVERTISED_PORT:-9092}
t=$(cat /opt/kafka/config/server.properties.in)
t=${t//listeners=SASL_PLAINTEXT:\/\/127.0.0.1:@PORT@,/listeners=SASL_PLAINTEXT://0.0.0.0:9092,}
t=${t//advertised.listeners=SASL_PLAINTEXT:\/\/127.0.0.1:@PORT@/advertised.listeners=SASL_PLAINTEXT://$host:$port}
t=${t//@CONTROLLER_PORT@/9093}
t=${t//@EXTRA_LISTENER@/}
t=${t//@DATA@/$data}
t=${t//@PARTITIONS@/${KAFKA_PARTITIONS:-6}}
t=${t//@ADMIN_PASSWORD@/$KAFKA_ADMIN_PASSWORD}
umask 077
mkdir -p /tmp/kafka
printf '%s\n' "$t" >"$conf"
# shellcheck disable=SC2206
heap=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g})
java=(java "${heap[@]}" -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp "/opt/kafka/libs/*")
if [ ! -f "$data/meta.properties" ]; then
  scram=()
  while IFS= read -r line; do
    [ -n "$line" ] && scram+=(--add-scram "$line")
  done <<<"${KAFKA_SCRAM_CREDENTIALS:-}"
  if ! grep -q 'name=admin,' <<<"${KAFKA_SCRAM_CREDENTIALS:-}"; then
    scram+=(--add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]")
  fi
  id=${KAFKA_CLUSTER_ID:-$("${java[@]}" kafka.tools.StorageTool random-uuid)}
  echo "kafka: formatting the storage (cluster $id, ${#scram[@]} SCRAM arguments)"
  "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$conf" "${scram[@]}"
fi
exec "${java[@]}" kafka.Kafka "$conf"
