// The ha profile as containers: what runs, under which names, on which ports, with which environment.
// Read from the launcher's own topology (tools/cluster/topology.ts), so that a change there changes the
// exported manifests (and export.test.ts fails until they are exported again). Every process has the
// same name in Docker Compose and in Kubernetes (a container's hostname; a Service per pod), so
// configurations and environments are one text for both.
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KAFKA_SASL_MECHANISM, ORDER_PUBSUB_ACL, SERVICE_ACL } from '../credentials.js'
import { inRepo } from '../paths.js'
import { CONVENTIONAL, portAllocator } from '../ports.js'
import { SERVICE_ROLES, type ServiceRole } from '../roles.js'
import { buildTopology, CHECKOUTS_PER_ORDER_REPLICA, DATA_GROUPS, PROFILES, SENTINEL_TIMING, type DataGroup } from '../topology.js'

const PROFILE = 'ha'
/** The image the root Dockerfile builds, named after the package. */
const { name: packageName, version } = JSON.parse(readFileSync(inRepo('package.json'), 'utf8')) as { name: string; version: string }

export const IMAGES = {
  kafka: 'apache/kafka:4.1.1',
  redis: 'redis:7.0',
  gateway: 'nginx:1.27',
  /** The repository's Dockerfile: the three services. */
  services: `${packageName}:${version}`,
  prometheus: 'prom/prometheus:v3.5.0',
  grafana: 'grafana/grafana:12.0.0',
} as const

/** Where the scripts (deploy/scripts) and the generated configurations are mounted in every container. */
export const SCRIPTS_DIR = '/etc/checkout/scripts'
export const CONFIG_DIR = '/etc/checkout/config'
/** The gateway's nginx.conf and openapi.json. */
export const GATEWAY_DIR = '/etc/checkout/gateway'

/** An environment: plain values, and variables taken from a secret (variable → key of the secret). */
export interface Env {
  values: Record<string, string>
  secrets: Record<string, string>
}

/** What one kind of container runs; Compose and Kubernetes each dress it up their way. */
export interface Container {
  image: string
  command: string[]
  env: Env
  port: number
  /**
   * The readiness check: a command in the container; or an HTTP GET of a path on `port`, with the
   * command that does it from inside the container (for Compose, which only runs commands).
   */
  ready: { exec: string[] } | { httpGet: string; exec: string[] }
  /** Where its data lives, if it keeps any. */
  dataDir?: string
}

export interface Deployment {
  kafka: { nodes: string[]; brokerPort: number; controllerPort: number; replicationFactor: number; minInsyncReplicas: number }
  redis: { port: number; groups: { group: DataGroup; members: string[] }[] }
  sentinel: { port: number; nodes: string[] } & typeof SENTINEL_TIMING
  services: { role: ServiceRole; port: number; instances: string[] }[]
  gateway: { port: number; checkoutLimit: number }
  containers: {
    kafka: Container
    redis(group: DataGroup): Container
    sentinel: Container
    /** `instance` names the replica (INSTANCE_ID); Kubernetes sets it per pod instead. */
    service(role: ServiceRole, instance?: string): Container
    gateway: Container
  }
}

/** The Kubernetes Secret that holds the credentials. */
export const SECRET_NAME = 'checkout-credentials'
const redisPasswordOf = (group: DataGroup) => `${group.toUpperCase()}_REDIS_PASSWORD`
const kafkaPasswordOf = (role: ServiceRole) => `${role.toUpperCase()}_KAFKA_PASSWORD`
/** The credentials, by the name they have in deploy/secrets.env and as keys of the Kubernetes Secret. */
export const SECRET_KEYS = [
  ...DATA_GROUPS.map(redisPasswordOf),
  'REDIS_REPLICATION_PASSWORD',
  'REDIS_SENTINEL_USER_PASSWORD',
  'SENTINEL_PASSWORD',
  ...SERVICE_ROLES.map(kafkaPasswordOf),
  'KAFKA_BROKER_PASSWORD',
  'KAFKA_CONTROLLER_PASSWORD',
] as const


export async function haDeployment(): Promise<Deployment> {
  const profile = PROFILES[PROFILE]
  // The launcher's own view of the profile: its processes' names and the environment of a service.
  // Conventional ports and no services started: building it binds and writes nothing.
  const topology = await buildTopology(PROFILE, join(tmpdir(), 'checkout-export'), portAllocator({ kind: 'conventional' }), { withServices: false, observe: false })
  const namesOf = (role: string) => topology.processes.filter((spec) => spec.role === role).map((spec) => spec.name)
  const launcherEnv = (role: ServiceRole) => topology.serviceEnv(role, 1)

  const kafkaNodes = namesOf('kafka')
  const sentinelNodes = namesOf('sentinel')
  const kafkaBrokerPort = CONVENTIONAL.kafka
  const redisPort = CONVENTIONAL.redis
  const sentinelPort = CONVENTIONAL.sentinel
  const gatewayPort = CONVENTIONAL.gateway
  const joined = (names: string[], port: number) => names.map((name) => `${name}:${port}`).join(',')
  const script = (name: string, ...args: string[]) => ['bash', `${SCRIPTS_DIR}/${name}`, ...args]
  const secretsNamed = (...keys: string[]) => Object.fromEntries(keys.map((key) => [key, key]))

  const deployment: Deployment = {
    kafka: {
      nodes: kafkaNodes,
      brokerPort: kafkaBrokerPort,
      controllerPort: kafkaBrokerPort + 1,
      replicationFactor: Number(launcherEnv('order').KAFKA_REPLICATION_FACTOR),
      minInsyncReplicas: Number(launcherEnv('order').KAFKA_MIN_INSYNC),
    },
    redis: {
      port: redisPort,
      groups: DATA_GROUPS.map((group) => ({ group, members: namesOf('redis').filter((name) => name.startsWith(`redis-${group}-`)) })),
    },
    sentinel: { port: sentinelPort, nodes: sentinelNodes, ...SENTINEL_TIMING },
    services: SERVICE_ROLES.map((role) => ({
      role,
      port: CONVENTIONAL[role],
      instances: Array.from({ length: profile.replicas[role] }, (_, index) => topology.serviceEnv(role, index + 1).INSTANCE_ID!),
    })),
    gateway: { port: gatewayPort, checkoutLimit: CHECKOUTS_PER_ORDER_REPLICA * profile.replicas.order },
    containers: {
      kafka: {
        image: IMAGES.kafka,
        command: script('kafka.sh'),
        env: {
          values: {
            KAFKA_BROKER_PORT: String(kafkaBrokerPort),
            KAFKA_CLIENT_USERS: SERVICE_ROLES.join(' '),
            // A Kafka cluster's id is no secret; one fixed id keeps the generated files stable.
            KAFKA_CLUSTER_ID: 'Y2hlY2tvdXQtc3lzdGVtAA',
            KAFKA_HEAP_OPTS: `-Xms${profile.kafkaHeap} -Xmx${profile.kafkaHeap}`,
          },
          secrets: secretsNamed('KAFKA_BROKER_PASSWORD', 'KAFKA_CONTROLLER_PASSWORD', ...SERVICE_ROLES.map(kafkaPasswordOf)),
        },
        port: kafkaBrokerPort,
        ready: { exec: script('kafka.sh', 'ready') },
        dataDir: '/var/lib/kafka/data',
      },
      redis: (group) => ({
        image: IMAGES.redis,
        command: script('redis.sh'),
        env: {
          values: {
            REDIS_GROUP: group,
            REDIS_PORT: String(redisPort),
            REDIS_FIRST_MASTER: `redis-${group}-1`,
            SENTINELS: joined(sentinelNodes, sentinelPort),
            // Long enough for the Sentinels to see a master down and promote a replica.
            REDIS_FAILOVER_WAIT_SECONDS: String(Math.ceil((SENTINEL_TIMING.downAfterMs + SENTINEL_TIMING.failoverTimeoutMs) / 1000)),
            // Each service has a data group of its own, named after it (topology.ts: DATA_GROUPS).
            REDIS_SERVICE_USER: group,
            REDIS_SERVICE_ACL: group === 'order' ? `${SERVICE_ACL} ${ORDER_PUBSUB_ACL}` : SERVICE_ACL,
          },
          secrets: {
            REDIS_SERVICE_PASSWORD: redisPasswordOf(group),
            ...secretsNamed('REDIS_REPLICATION_PASSWORD', 'REDIS_SENTINEL_USER_PASSWORD', 'SENTINEL_PASSWORD'),
          },
        },
        port: redisPort,
        ready: { exec: script('redis.sh', 'ready') },
        dataDir: '/data',
      }),
      sentinel: {
        image: IMAGES.redis,
        command: script('sentinel.sh'),
        env: { values: { SENTINEL_PORT: String(sentinelPort) }, secrets: secretsNamed('SENTINEL_PASSWORD', 'REDIS_SENTINEL_USER_PASSWORD') },
        port: sentinelPort,
        ready: { exec: script('sentinel.sh', 'ready') },
        dataDir: '/data',
      },
      service: (role, instance) => {
        // What the launcher gives a replica (platform/config.ts reads it), its addresses made the containers'.
        const { INSTANCE_ID: _launcherInstance, ...fromLauncher } = launcherEnv(role)
        return {
          image: IMAGES.services,
          command: ['node', `dist/services/${role}/main.js`],
          env: withSecrets({
            values: {
              ...fromLauncher,
              ...(instance ? { INSTANCE_ID: instance } : {}),
              HTTP_HOST: '0.0.0.0',
              HTTP_PORT: String(CONVENTIONAL[role]),
              KAFKA_BROKERS: joined(kafkaNodes, kafkaBrokerPort),
              REDIS_SENTINELS: joined(sentinelNodes, sentinelPort),
              STOCK_URL: `http://gateway:${gatewayPort}`,
              LOG_LEVEL: 'info',
              REDIS_USERNAME: role,
              KAFKA_SASL_MECHANISM,
              KAFKA_SASL_USERNAME: role,
            },
            secrets: { REDIS_PASSWORD: redisPasswordOf(role), REDIS_SENTINEL_PASSWORD: 'SENTINEL_PASSWORD', KAFKA_SASL_PASSWORD: kafkaPasswordOf(role) },
          }),
          port: CONVENTIONAL[role],
          ready: { httpGet: '/health', exec: ['node', '-e', `fetch('http://127.0.0.1:${CONVENTIONAL[role]}/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`] },
        }
      },
      gateway: {
        image: IMAGES.gateway,
        // The configuration's relative paths (pid, temp files, public/openapi.json) are under its prefix: a writable folder.
        command: ['sh', '-c', `mkdir -p /tmp/gateway/temp /tmp/gateway/public && cp ${GATEWAY_DIR}/openapi.json /tmp/gateway/public/ && exec nginx -p /tmp/gateway/ -c ${GATEWAY_DIR}/nginx.conf`],
        env: { values: {}, secrets: {} },
        port: gatewayPort,
        ready: { httpGet: '/openapi.json', exec: ['curl', '-fsS', '-o', '/dev/null', `http://127.0.0.1:${gatewayPort}/openapi.json`] },
      },
    },
  }
  return deployment
}

/** A variable set from a secret has no plain value, whatever the launcher gives it locally. */
function withSecrets({ values, secrets }: Env): Env {
  return { values: Object.fromEntries(Object.entries(values).filter(([name]) => !(name in secrets))), secrets }
}
