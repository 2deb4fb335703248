#!/bin/bash
# One Kafka node (KRaft, broker and controller), in a container (deploy/docker-compose.yml, deploy/k8s):
# writes its server.properties (the static part is /etc/checkout/config/kafka.properties, generated from
# the topology; its id, its name and the credentials are added here), formats its storage on the first
# start with the SCRAM credentials of the brokers and of every client user, and runs the broker.
# `kafka.sh ready` is its readiness check.
#
# Environment: KAFKA_BROKER_PORT, KAFKA_CLUSTER_ID, KAFKA_CLIENT_USERS (names; <NAME>_KAFKA_PASSWORD holds
# each one's password); the secrets KAFKA_BROKER_PASSWORD (SCRAM, between brokers) and
# KAFKA_CONTROLLER_PASSWORD (PLAIN, to the controllers). HOSTNAME is its name, ending in its node id (kafka-2).
# KAFKA_HOME and CHECKOUT_CONFIG_DIR move the image's folders (test/integration/manifests.test.ts).
set -euo pipefail

kafka_home=${KAFKA_HOME:-/opt/kafka}
config_dir=${CHECKOUT_CONFIG_DIR:-/etc/checkout/config}

if [ "${1:-}" = ready ]; then
  # The broker listener accepts connections once the node has caught up with the cluster's metadata.
  exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_BROKER_PORT"
  exit
fi

properties="$kafka_home/config/checkout.properties"
umask 077
{
  cat "$config_dir/kafka.properties"
  echo "node.id=${HOSTNAME##*-}"
  echo "advertised.listeners=BROKER://$HOSTNAME:$KAFKA_BROKER_PORT"
  echo "listener.name.broker.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"$KAFKA_BROKER_PASSWORD\";"
  # PLAIN on the controller listener: the username/password is what this node sends, user_controller what it accepts.
  echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" password=\"$KAFKA_CONTROLLER_PASSWORD\" user_controller=\"$KAFKA_CONTROLLER_PASSWORD\";"
} >"$properties"

# SCRAM credentials live in the cluster's metadata: created when the storage is formatted, so the
# brokers can authenticate to each other from the first start. An existing storage is left as it is.
scram=(--add-scram "SCRAM-SHA-256=[name=broker,password=$KAFKA_BROKER_PASSWORD]")
for user in $KAFKA_CLIENT_USERS; do
  password_variable="${user^^}_KAFKA_PASSWORD"
  scram+=(--add-scram "SCRAM-SHA-256=[name=$user,password=${!password_variable}]")
done
"$kafka_home/bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" --config "$properties" "${scram[@]}"

exec "$kafka_home/bin/kafka-server-start.sh" "$properties"
