#!/usr/bin/env bash
# Installs whatever the local cluster needs and is missing; does nothing (quickly) when all is there.
# Idempotent: run it before every build. Progress goes to stderr.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

say() { echo "setup: $*" >&2; }

# Debian packages: the cluster runs its own redis/sentinel/nginx processes, so the system services
# that apt would start (redis on 6379, sentinel on 26379, nginx on 80) are kept from starting.
apt_install() {
  [ $# -eq 0 ] && return 0
  say "installing $* (apt)"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d # "101: action forbidden" for every service
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "$@" >&2
  stop_system_services
}

# In case a system service was started anyway (e.g. policy-rc.d existed and allowed it).
stop_system_services() {
  local service
  for service in redis-server redis-sentinel nginx prometheus prometheus-redis-exporter prometheus-nginx-exporter prometheus-node-exporter; do
    if [ -x "/etc/init.d/$service" ] && service "$service" status >/dev/null 2>&1; then
      say "stopping system service $service"
      service "$service" stop >/dev/null 2>&1 || true
    fi
  done
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
{ command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; } || missing+=(python3 python3-venv)
# The deployment's container scripts (deploy/scripts), checked in the tests.
command -v shellcheck >/dev/null || missing+=(shellcheck)
# The hosts profile: network namespaces, links and their faults (ip, tc; nft for partitions).
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
# --observe: Prometheus and the exporters of Redis and nginx.
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-redis-exporter >/dev/null || missing+=(prometheus-redis-exporter)
command -v prometheus-nginx-exporter >/dev/null || missing+=(prometheus-nginx-exporter)
apt_install "${missing[@]}"

if [ ! -d node_modules ] || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules ]; }; then
  if [ -f package-lock.json ]; then
    say "npm ci"
    npm ci --no-audit --no-fund >&2
  else
    say "npm install"
    npm install --no-audit --no-fund >&2
  fi
  touch node_modules # npm ci may keep the directory's old mtime
fi

# The runtime: Node 24 from the npm registry (package `node`, a dependency), which npm scripts find
# first on their PATH. Its install script fetches the binary; should npm have skipped it, run it now.
runtime="v$(node -p "require('./package.json').dependencies.node.replace(/^[^0-9]*/, '')")"
if [ "$(node_modules/.bin/node --version 2>/dev/null)" != "$runtime" ]; then
  say "installing the Node $runtime runtime (npm package node)"
  (cd node_modules/node && node installArchSpecificPackage) >&2
fi

# The fuzzer (npm run fuzz, and a short pass in npm test): schemathesis from PyPI, pinned, in a
# virtualenv of its own.
if [ ! -x .venv/fuzz/bin/schemathesis ] || [ tools/fuzz/requirements.txt -nt .venv/fuzz ]; then
  say "installing schemathesis (pip, into .venv/fuzz)"
  rm -rf .venv/fuzz
  python3 -m venv .venv/fuzz
  .venv/fuzz/bin/pip install -q --disable-pip-version-check -r tools/fuzz/requirements.txt >&2
  touch .venv/fuzz
fi

# The offline validators of the deployment manifests (deploy/): the Compose Specification's and the
# Kubernetes API's JSON schemas, from PyPI, pinned, in a virtualenv of their own.
if [ ! -x .venv/validate/bin/kubernetes-validate ] || [ tools/cluster/export/requirements.txt -nt .venv/validate ]; then
  say "installing check-jsonschema and kubernetes-validate (pip, into .venv/validate)"
  rm -rf .venv/validate
  python3 -m venv .venv/validate
  .venv/validate/bin/pip install -q --disable-pip-version-check -r tools/cluster/export/requirements.txt >&2
  touch .venv/validate
fi

# --observe: Prometheus's JMX exporter, a Java agent in each Kafka broker.
jmx_agent_version=1.0.1
if [ ! -f kafka/agents/jmx_prometheus_javaagent.jar ] || [ "$(cat kafka/agents/VERSION 2>/dev/null)" != "$jmx_agent_version" ]; then
  say "fetching the JMX exporter agent $jmx_agent_version (maven)"
  mkdir -p kafka/agents
  mvn -q -B dependency:copy -Dartifact="io.prometheus.jmx:jmx_prometheus_javaagent:$jmx_agent_version" \
    -DoutputDirectory=kafka/agents -Dmdep.stripVersion=true >&2
  echo "$jmx_agent_version" > kafka/agents/VERSION
fi

if [ ! -d kafka/lib ] || [ kafka/pom.xml -nt kafka/lib ]; then
  say "fetching Kafka jars (maven)"
  rm -rf kafka/lib
  (cd kafka && mvn -q -B dependency:copy-dependencies) >&2
  touch kafka/lib
fi
