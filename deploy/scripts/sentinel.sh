#!/bin/bash
# One Redis Sentinel, in a container (deploy/docker-compose.yml, deploy/k8s): on its first start writes
# its configuration (the groups it monitors and their timing are /etc/checkout/config/sentinel.conf,
# generated from the topology; the credentials and its name are added here), then runs it.
# `sentinel.sh ready` is its readiness check: it can authorise a failover of every group.
#
# Environment: SENTINEL_PORT; the secrets SENTINEL_PASSWORD (what clients and the other Sentinels
# authenticate with) and REDIS_SENTINEL_USER_PASSWORD (the `sentinel` user on every Redis).
# HOSTNAME is the name the others reach it at.
set -euo pipefail

config=/data/sentinel.conf
mapfile -t groups < <(awk '$1 == "sentinel" && $2 == "monitor" { print $3 }' /etc/checkout/config/sentinel.conf)

if [ "${1:-}" = ready ]; then
  for group in "${groups[@]}"; do
    REDISCLI_AUTH="$SENTINEL_PASSWORD" redis-cli -p "$SENTINEL_PORT" SENTINEL CKQUORUM "$group" | grep -q '^OK'
  done
  exit
fi

# Written once, as the launcher does: Sentinel rewrites the file with what it learns (the current master
# of each group after a failover, the replicas, the other Sentinels, the epoch), and a restarted Sentinel
# must start from that, not from the masters of the cluster's first start. (To apply a new generated
# configuration or new credentials, remove the file; the Sentinels relearn the rest from each other.)
if [ ! -e "$config" ]; then
  umask 077
  {
    cat /etc/checkout/config/sentinel.conf
    echo "sentinel announce-ip $HOSTNAME"
    echo "requirepass $SENTINEL_PASSWORD"
    echo "sentinel sentinel-pass $SENTINEL_PASSWORD"
    for group in "${groups[@]}"; do
      echo "sentinel auth-user $group sentinel"
      echo "sentinel auth-pass $group $REDIS_SENTINEL_USER_PASSWORD"
    done
  } >"$config.new"
  mv "$config.new" "$config"
fi

# Sentinel resolves the masters' names when it loads its configuration: wait until they exist.
while read -r _ _ _ master _; do
  until getent hosts "$master" >/dev/null; do sleep 1; done
done < <(grep '^sentinel monitor ' "$config")

exec docker-entrypoint.sh redis-server "$config" --sentinel
