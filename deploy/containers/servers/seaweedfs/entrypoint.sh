#!/bin/bash
# `weed mini` as deploy/local/stack runs it, S3 on 8333 (container addresses), data in /data.
# The S3 identities (dinamis_shared.acls s3-config): /etc/seaweedfs/s3.json, or the content of
# SEAWEEDFS_S3_CONFIG_JSON. Without identities SeaweedFS would serve anonymous requests: refused.
set -euo pipefail
conf=/etc/seaweedfs/s3.json
if [ -n "${SEAWEEDFS_S3_CONFIG_JSON:-}" ]; then
  conf=$(mktemp /tmp/s3.XXXXXX.json)
  printf '%s' "$SEAWEEDFS_S3_CONFIG_JSON" >"$conf"
  chmod 600 "$conf"
fi
if ! grep -q '"identities"' "$conf" 2>/dev/null; then
  echo "refusé : aucune identité S3 ($conf absent ou vide, SEAWEEDFS_S3_CONFIG_JSON vide) ; refused: no S3 identities" >&2
  exit 1
fi
mkdir -p /tmp/weed-logs
# `weed mini` has one bind address for all its servers: bound to the network, its master,
# volume and filer would answer any container beside S3, without S3's signatures. So `weed
# mini` (master, volume, filer; its own S3 on 8334) listens on the container's loopback only,
# and a separate `weed s3` gateway on the filer is the one server bound to the network (8333).
weed=(/usr/local/bin/weed -logdir=/tmp/weed-logs)
"${weed[@]}" mini -dir=/data \
  -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$conf" -s3.iam=false -disableHttp \
  -s3.port=8334 -s3.port.grpc=18334 -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.port=9333 -master.port.grpc=19333 -volume.port=9340 -volume.port.grpc=19340 \
  -filer.port=9888 -filer.port.grpc=19888 -admin.port=9646 -admin.port.grpc=19646 -admin.port.legacy=0 \
  -admin.ui=false -webdav=false -master.telemetry=false "$@" &
mini=$!
for _ in $(seq 120); do  # the gateway needs the filer
  (exec 3<>/dev/tcp/127.0.0.1/9888) 2>/dev/null && break
  kill -0 "$mini" 2>/dev/null || exit 1
  sleep 0.5
done
"${weed[@]}" s3 -ip.bind=0.0.0.0 -port=8333 -port.grpc=18333 -port.iceberg=0 -port.lance=0 \
  -filer=127.0.0.1:9888 -config="$conf" -iam=false &
gateway=$!
trap 'kill -TERM "$mini" "$gateway" 2>/dev/null' TERM INT
# Either one ending ends the container (its restart policy, or the operator, takes over).
wait -n "$mini" "$gateway"; rc=$?
kill -TERM "$mini" "$gateway" 2>/dev/null; wait
exit "$rc"
