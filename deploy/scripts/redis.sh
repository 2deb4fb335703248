#!/bin/bash
# One Redis server of a data group, in a container (deploy/docker-compose.yml, deploy/k8s): writes its
# configuration (the static part is /etc/checkout/config/redis.conf, generated from the topology; the
# credentials and the role are added here) and runs redis-server. `redis.sh ready` is its readiness check.
#
# Environment: REDIS_GROUP (the Sentinel master name), REDIS_PORT, REDIS_FIRST_MASTER (the member that is
# master when the cluster first starts), SENTINELS (host:port,...), REDIS_FAILOVER_WAIT_SECONDS,
# REDIS_SERVICE_USER and REDIS_SERVICE_ACL (the one service's user and its rules); the secrets
# REDIS_SERVICE_PASSWORD, REDIS_REPLICATION_PASSWORD, REDIS_SENTINEL_USER_PASSWORD, SENTINEL_PASSWORD.
# HOSTNAME is the name the others reach this server at.
set -euo pipefail

data=/data
config="$data/redis.conf"

if [ "${1:-}" = ready ]; then
  # Ready as master, or as a replica whose link to its master is up (as the launcher's check).
  info=$(REDISCLI_AUTH="$REDIS_SENTINEL_USER_PASSWORD" redis-cli --user sentinel -p "$REDIS_PORT" INFO replication)
  grep -qE '^(role:master|master_link_status:up)' <<<"${info//$'\r'/}"
  exit
fi

# The group's master as the first Sentinel that answers names it ("host port"); nothing when none does.
sentinels_master() {
  local sentinel address
  for sentinel in ${SENTINELS//,/ }; do
    mapfile -t address < <(REDISCLI_AUTH="$SENTINEL_PASSWORD" timeout 2 redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw \
      SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_GROUP" 2>/dev/null || true)
    if [ "${#address[@]}" -eq 2 ] && [[ "${address[1]}" =~ ^[0-9]+$ ]]; then
      echo "${address[0]} ${address[1]}"
      return
    fi
  done
}

me="$HOSTNAME $REDIS_PORT"
master=$(sentinels_master)
if [ -z "$master" ]; then
  master="$REDIS_FIRST_MASTER $REDIS_PORT" # no Sentinel knows the group yet: the cluster's first start
elif [ "$master" = "$me" ] && [ -e "$data/started" ]; then
  # A master that died must not come back as master before the Sentinels promoted a replica: its AOF
  # may lack the last second of writes the replica acknowledged (WAIT), and the replica would resync
  # from it and lose them. Wait for the failover, bounded: with every replica down nobody is promoted.
  for _ in $(seq "$REDIS_FAILOVER_WAIT_SECONDS"); do
    sleep 1
    master=$(sentinels_master)
    [ -n "$master" ] && [ "$master" != "$me" ] && break
  done
  master=${master:-$me}
fi
touch "$data/started"

# Written anew at every start (Sentinel's CONFIG REWRITE lands here too): the role comes from Sentinel.
umask 077
{
  echo "include /etc/checkout/config/redis.conf"
  echo "replica-announce-ip $HOSTNAME"
  echo "masterauth $REDIS_REPLICATION_PASSWORD"
  if [ "$master" != "$me" ]; then echo "replicaof $master"; fi
  echo "user default off"
  echo "user $REDIS_SERVICE_USER on >$REDIS_SERVICE_PASSWORD $REDIS_SERVICE_ACL"
  # Replicas and Sentinel get only the commands Redis's ACL documentation lists for them.
  echo "user replication on >$REDIS_REPLICATION_PASSWORD -@all +psync +replconf +ping"
  echo "user sentinel on >$REDIS_SENTINEL_USER_PASSWORD allchannels -@all +multi +slaveof +replicaof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"
} >"$config"

# The image's entrypoint hands /data to the redis user and drops root.
exec docker-entrypoint.sh redis-server "$config"
