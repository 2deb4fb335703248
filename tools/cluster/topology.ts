// The whole cluster of each profile, declared in one place (as .NET Aspire's AppHost does):
// which processes exist, their ports, what each waits for, and the environment each service gets.
import { brokersStartingAt } from '../../platform/config.js'
import { clusterCredentials, KAFKA_SASL_MECHANISM, redisAclLines, type Credentials } from './credentials.js'
import { newKafkaClusterId, kafkaNodeSpec, type KafkaNode, type KafkaSettings } from './kafka.js'
import { gatewaySpec } from './nginx.js'
import { observabilitySpecs } from './observe.js'
import type { PortAllocator } from './ports.js'
import { GATEWAY_HOST, LOCAL, planHostNetwork, type HostNetwork, type Placement } from './network.js'
import type { Endpoint } from './probes.js'
import type { ProcessSpec } from './processes.js'
import { redisSpec, sentinelSpec, type RedisMember, type SentinelNode, type SentinelSettings } from './redis.js'
import { SERVICE_ROLES, type Role, type ServiceRole } from './roles.js'
import { serviceSpec } from './services.js'

export type ProfileName = 'default' | 'ha' | 'hosts'

/** Each data group has its own Redis (a Sentinel master name in the ha profile). */
export const DATA_GROUPS = SERVICE_ROLES
export type DataGroup = ServiceRole

interface Profile {
  kafkaNodes: number
  kafkaHeap: string
  /** Redis servers per data group: a master, then replicas. */
  redisPerGroup: number
  sentinels: number
  replicas: Record<ServiceRole, number>
  /** Separate network hosts the processes are spread over (network namespaces); 0: all on 127.0.0.1. */
  hosts: number
}

const HA: Profile = {
  kafkaNodes: 3,
  kafkaHeap: '384m',
  // Two replicas: with one down (killed, paused, resyncing), writes still reach a replica, so the
  // WAIT that guards every acknowledgement does not stall the group.
  redisPerGroup: 3,
  sentinels: 3,
  replicas: { order: 3, stock: 3, payment: 3 },
  hosts: 0,
}

export const PROFILES: Record<ProfileName, Profile> = {
  default: {
    kafkaNodes: 1,
    kafkaHeap: '512m',
    redisPerGroup: 1,
    sentinels: 0,
    replicas: { order: 1, stock: 1, payment: 1 },
    hosts: 0,
  },
  ha: HA,
  // The ha topology on three hosts: on each one Kafka node, one Redis of each group (the masters on
  // different hosts), one Sentinel, one replica of each service; the gateway in front, on the machine.
  hosts: { ...HA, hosts: 3 },
}

export const SENTINEL_TIMING = {
  quorum: 2,
  // Long enough that a master slowed by load is not failed over for nothing, short enough to recover in seconds.
  downAfterMs: 3000,
  failoverTimeoutMs: 10_000,
}

/**
 * Admission: checkouts in progress per order replica that the gateway lets in (the gateway's limit is
 * this times the replicas); each replica refuses beyond twice its share, should the gateway's balance
 * be uneven (a replica down). Past these, a checkout is answered 429 at once and changes nothing: the
 * work in the system stays what the machine can finish in about a second, whatever the offered load.
 */
export const CHECKOUTS_PER_ORDER_REPLICA = 512

/** The Redis each service keeps its data in. */
const DATA_GROUP_OF: Record<ServiceRole, DataGroup> = { order: 'order', stock: 'stock', payment: 'payment' }

/** Which roles must be ready before a role starts (the AppHost's WaitFor). */
export const WAITS_FOR: Record<Role, Role[]> = {
  redis: [],
  sentinel: ['redis'],
  kafka: [],
  order: ['redis', 'sentinel', 'kafka'],
  stock: ['redis', 'sentinel', 'kafka'],
  payment: ['redis', 'sentinel', 'kafka'],
  gateway: [...SERVICE_ROLES],
  prometheus: [],
  // The nginx exporter exits at start-up if it cannot reach nginx's stub_status.
  exporter: ['gateway'],
}

/** Shutdown order: what uses a thing stops before it. */
export const STOP_ORDER: Role[][] = [['prometheus', 'exporter'], [...SERVICE_ROLES], ['gateway'], ['kafka'], ['sentinel'], ['redis']]

export interface RedisEndpoint {
  url?: string
  sentinels?: string[]
  masterName: string
}

export interface Topology {
  profile: ProfileName
  gatewayUrl: string
  /** With `observe`: where Prometheus answers. */
  prometheusUrl?: string
  kafkaBrokers: string[]
  redis: Record<DataGroup, RedisEndpoint>
  /** The hosts profile's network: made before the processes start, removed after they stop. */
  network?: HostNetwork
  /** Logins to Redis, Sentinel and Kafka, when they require them (the hosts profile). */
  credentials?: Credentials
  /** Every process to run, infrastructure first; services and gateway only when asked for. */
  processes: ProcessSpec[]
  /** The environment of a service process; HTTP_PORT is 0 (any) for an instance the profile does not declare. */
  serviceEnv(role: ServiceRole, instance: number): Record<string, string>
}

export interface TopologyOptions {
  /** false: infrastructure only (Kafka, Redis, Sentinels). */
  withServices: boolean
  /** Prometheus and the exporters, every process scraped. */
  observe: boolean
}

export async function buildTopology(profileName: ProfileName, runDir: string, ports: PortAllocator, { withServices, observe }: TopologyOptions): Promise<Topology> {
  const profile = PROFILES[profileName]
  const ha = profile.sentinels > 0
  const count = (n: number) => Array.from({ length: n }, (_, index) => index + 1)
  const network = profile.hosts > 0 ? planHostNetwork(profile.hosts) : undefined
  /** The n-th host (0-based, wrapping around), or the machine itself. */
  const hostAt = (index: number): Placement => (network ? network.hosts[index % network.hosts.length]! : LOCAL)
  const rootNamespace = network ? GATEWAY_HOST : LOCAL
  // Processes that talk over a network (the hosts profile) log in to Redis, Sentinel and Kafka.
  const credentials = network ? clusterCredentials(runDir) : undefined
  // The exporters would need every Redis and Sentinel login; not wired yet.
  if (credentials && observe) throw new Error('--observe does not run with the hosts profile yet (its Redis and Sentinels require logins the exporters lack)')
  const at = (host: Placement, port: number): Endpoint => ({ address: host.address, port })

  // Redis: per group, member 1 is the master at start-up and the others replicate it. Member k of the
  // g-th group is on host k + g: each host has one Redis of each group, and the masters are spread.
  const redisMembers: RedisMember[] = []
  for (const [groupIndex, group] of DATA_GROUPS.entries()) {
    let master: Endpoint | undefined
    for (const member of count(profile.redisPerGroup)) {
      const host = hostAt(member - 1 + groupIndex)
      const endpoint = at(host, await ports.take('redis'))
      redisMembers.push({ name: `redis-${group}-${member}`, group, host, ...endpoint, replicaOf: master })
      master ??= endpoint
    }
  }
  const sentinelNodes: SentinelNode[] = []
  for (const index of count(profile.sentinels)) {
    const host = hostAt(index - 1)
    sentinelNodes.push({ name: `sentinel-${index}`, host, ...at(host, await ports.take('sentinel')) })
  }
  const sentinels: SentinelSettings | undefined = ha
    ? { endpoints: sentinelNodes, ...SENTINEL_TIMING, password: credentials?.sentinelPassword, redisLogin: credentials?.redis.sentinel }
    : undefined

  const kafkaNodes: KafkaNode[] = []
  for (const id of count(profile.kafkaNodes)) {
    const node: KafkaNode = { id, name: `kafka-${id}`, host: hostAt(id - 1), brokerPort: await ports.take('kafka'), controllerPort: await ports.take('kafka') }
    if (observe) node.metricsPort = await ports.take('exporter')
    kafkaNodes.push(node)
  }
  const kafka: KafkaSettings = {
    nodes: kafkaNodes,
    clusterId: newKafkaClusterId(),
    replicationFactor: Math.min(3, profile.kafkaNodes),
    minInsyncReplicas: profile.kafkaNodes >= 3 ? 2 : 1,
    heap: profile.kafkaHeap,
    runDir,
    credentials: credentials?.kafka,
  }

  // Replica i of each service runs on host i.
  const serviceEndpoints = new Map<string, Endpoint & { host: Placement }>()
  for (const role of SERVICE_ROLES) {
    for (const instance of count(profile.replicas[role])) {
      const host = hostAt(instance - 1)
      serviceEndpoints.set(`${role}-${instance}`, { host, ...at(host, await ports.take(role)) })
    }
  }
  const gatewayPort = await ports.take('gateway')
  const observePorts = observe
    ? { prometheus: await ports.take('prometheus'), redisExporter: await ports.take('exporter'), nginxExporter: await ports.take('exporter'), gatewayStatus: await ports.take('exporter') }
    : undefined

  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
  // Where the services reach the gateway: on the hosts' subnet in the hosts profile.
  const internalGatewayUrl = network ? `http://${network.gatewayAddress}:${gatewayPort}` : gatewayUrl
  const kafkaBrokers = kafkaNodes.map((node) => `${node.host.address}:${node.brokerPort}`)
  const masterOf = (group: DataGroup) => redisMembers.find((member) => member.group === group && member.replicaOf === undefined)!
  const redis = Object.fromEntries(
    DATA_GROUPS.map((group) => {
      const { address, port } = masterOf(group)
      const endpoint: RedisEndpoint = ha
        ? { sentinels: sentinelNodes.map((node) => `${node.address}:${node.port}`), masterName: group }
        : { url: `redis://${address}:${port}`, masterName: group }
      return [group, endpoint]
    }),
  ) as Record<DataGroup, RedisEndpoint>

  const serviceEnv = (role: ServiceRole, instance: number): Record<string, string> => {
    const endpoint = redis[DATA_GROUP_OF[role]]
    const placed = serviceEndpoints.get(`${role}-${instance}`)
    return {
      SERVICE_NAME: role,
      INSTANCE_ID: `${role}-${instance}`,
      HTTP_HOST: placed?.address ?? '127.0.0.1',
      HTTP_PORT: String(placed?.port ?? 0),
      // Replica i asks broker i first (on its own host in the hosts profile; see brokersStartingAt): one
      // cut off elsewhere does not slow every client, and on one machine the first broker is not everyone's.
      KAFKA_BROKERS: brokersStartingAt(kafkaBrokers, instance - 1).join(','),
      KAFKA_REPLICATION_FACTOR: String(kafka.replicationFactor),
      KAFKA_MIN_INSYNC: String(kafka.minInsyncReplicas),
      ...(endpoint.sentinels
        ? { REDIS_SENTINELS: endpoint.sentinels.join(','), REDIS_MASTER_NAME: endpoint.masterName }
        : { REDIS_URL: endpoint.url! }),
      ...(credentials && {
        REDIS_USERNAME: credentials.redis.services[DATA_GROUP_OF[role]].username,
        REDIS_PASSWORD: credentials.redis.services[DATA_GROUP_OF[role]].password,
        REDIS_SENTINEL_PASSWORD: credentials.sentinelPassword,
        KAFKA_SASL_MECHANISM: KAFKA_SASL_MECHANISM,
        KAFKA_SASL_USERNAME: credentials.kafka.services[role].username,
        KAFKA_SASL_PASSWORD: credentials.kafka.services[role].password,
      }),
      // One replica must hold a write before it is acknowledged: Sentinel promotes the most up-to-date one.
      REDIS_WAIT_REPLICAS: String(Math.min(1, profile.redisPerGroup - 1)),
      // The order service looks prices up through the gateway, which balances and fails over.
      STOCK_URL: internalGatewayUrl,
      MAX_CHECKOUTS_IN_FLIGHT: String(2 * CHECKOUTS_PER_ORDER_REPLICA),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    }
  }

  const monitoredGroups = DATA_GROUPS.map((group) => ({ group, master: at(masterOf(group).host, masterOf(group).port), replicas: profile.redisPerGroup - 1 }))
  const processes: ProcessSpec[] = [
    ...redisMembers.map((member) =>
      redisSpec(member, runDir, sentinels, credentials && { aclLines: redisAclLines(credentials, member.group as DataGroup), admin: credentials.redis.admin }),
    ),
    ...(sentinels ? sentinelNodes.map((node) => sentinelSpec(node, monitoredGroups, sentinels, runDir)) : []),
    ...kafkaNodes.map((node) => kafkaNodeSpec(node, kafka)),
  ]
  const replicasOf = (role: ServiceRole) => count(profile.replicas[role]).map((instance) => ({ instance, ...serviceEndpoints.get(`${role}-${instance}`)! }))
  if (withServices) {
    for (const role of SERVICE_ROLES) {
      for (const { instance, host, port } of replicasOf(role)) processes.push(serviceSpec(role, instance, host, port, serviceEnv(role, instance)))
    }
    processes.push(
      gatewaySpec({
        host: rootNamespace,
        port: gatewayPort,
        addresses: network ? ['127.0.0.1', network.gatewayAddress] : ['127.0.0.1'],
        upstreams: { order: replicasOf('order'), stock: replicasOf('stock'), payment: replicasOf('payment') },
        checkoutLimit: CHECKOUTS_PER_ORDER_REPLICA * profile.replicas.order,
        runDir,
        statusPort: observePorts?.gatewayStatus,
      }),
    )
  }
  if (observePorts) {
    const services = withServices ? SERVICE_ROLES.flatMap((role) => replicasOf(role).map(({ instance, address, port }) => ({ name: `${role}-${instance}`, role, address, port }))) : []
    const targets = {
      services,
      kafka: kafkaNodes.map((node) => ({ name: node.name, address: node.host.address, metricsPort: node.metricsPort! })),
      redis: redisMembers.map(({ name, group, address, port }) => ({ name, group, address, port })),
      sentinels: sentinelNodes.map(({ name, address, port }) => ({ name, address, port })),
      gatewayStatusPort: withServices ? observePorts.gatewayStatus : undefined,
    }
    processes.push(...observabilitySpecs(targets, observePorts, runDir, rootNamespace))
  }

  const prometheusUrl = observePorts && `http://127.0.0.1:${observePorts.prometheus}`
  return { profile: profileName, gatewayUrl, prometheusUrl, kafkaBrokers, redis, network, credentials, processes, serviceEnv }
}
