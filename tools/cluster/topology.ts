// The whole cluster of each profile, declared in one place (as .NET Aspire's AppHost does):
// which processes exist, their ports, what each waits for, and the environment each service gets.
import { newKafkaClusterId, kafkaNodeSpec, type KafkaNode, type KafkaSettings } from './kafka.js'
import { gatewaySpec } from './nginx.js'
import { observabilitySpecs } from './observe.js'
import type { PortAllocator } from './ports.js'
import type { ProcessSpec } from './processes.js'
import { redisSpec, sentinelSpec, type RedisMember, type SentinelSettings } from './redis.js'
import { SERVICE_ROLES, type Role, type ServiceRole } from './roles.js'
import { serviceSpec } from './services.js'

export type ProfileName = 'default' | 'ha'

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
}

export const PROFILES: Record<ProfileName, Profile> = {
  default: {
    kafkaNodes: 1,
    kafkaHeap: '512m',
    redisPerGroup: 1,
    sentinels: 0,
    replicas: { order: 1, stock: 1, payment: 1 },
  },
  ha: {
    kafkaNodes: 3,
    kafkaHeap: '384m',
    // Two replicas: with one down (killed, paused, resyncing), writes still reach a replica, so the
    // WAIT that guards every acknowledgement does not stall the group.
    redisPerGroup: 3,
    sentinels: 3,
    replicas: { order: 3, stock: 3, payment: 3 },
  },
}

const SENTINEL_TIMING = {
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
const CHECKOUTS_PER_ORDER_REPLICA = 512

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

  // Redis: per group, member 1 is the master at start-up and the others replicate it.
  const redisMembers: RedisMember[] = []
  for (const group of DATA_GROUPS) {
    const masterPort = await ports.take('redis')
    redisMembers.push({ name: `redis-${group}-1`, group, port: masterPort })
    for (const member of count(profile.redisPerGroup).slice(1)) {
      redisMembers.push({ name: `redis-${group}-${member}`, group, port: await ports.take('redis'), replicaOf: masterPort })
    }
  }
  const sentinelPorts: number[] = []
  while (sentinelPorts.length < profile.sentinels) sentinelPorts.push(await ports.take('sentinel'))
  const sentinels: SentinelSettings | undefined = ha ? { ports: sentinelPorts, ...SENTINEL_TIMING } : undefined

  const kafkaNodes: KafkaNode[] = []
  for (const id of count(profile.kafkaNodes)) {
    const node: KafkaNode = { id, name: `kafka-${id}`, brokerPort: await ports.take('kafka'), controllerPort: await ports.take('kafka') }
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
  }

  const servicePorts = new Map<string, number>()
  for (const role of SERVICE_ROLES) {
    for (const instance of count(profile.replicas[role])) servicePorts.set(`${role}-${instance}`, await ports.take(role))
  }
  const gatewayPort = await ports.take('gateway')
  const observePorts = observe
    ? { prometheus: await ports.take('prometheus'), redisExporter: await ports.take('exporter'), nginxExporter: await ports.take('exporter'), gatewayStatus: await ports.take('exporter') }
    : undefined

  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
  const kafkaBrokers = kafkaNodes.map((node) => `127.0.0.1:${node.brokerPort}`)
  const masterPortOf = (group: DataGroup) => redisMembers.find((member) => member.group === group && member.replicaOf === undefined)!.port
  const redis = Object.fromEntries(
    DATA_GROUPS.map((group) => {
      const endpoint: RedisEndpoint = ha
        ? { sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`), masterName: group }
        : { url: `redis://127.0.0.1:${masterPortOf(group)}`, masterName: group }
      return [group, endpoint]
    }),
  ) as Record<DataGroup, RedisEndpoint>

  const serviceEnv = (role: ServiceRole, instance: number): Record<string, string> => {
    const endpoint = redis[DATA_GROUP_OF[role]]
    return {
      SERVICE_NAME: role,
      INSTANCE_ID: `${role}-${instance}`,
      HTTP_PORT: String(servicePorts.get(`${role}-${instance}`) ?? 0),
      KAFKA_BROKERS: kafkaBrokers.join(','),
      KAFKA_REPLICATION_FACTOR: String(kafka.replicationFactor),
      KAFKA_MIN_INSYNC: String(kafka.minInsyncReplicas),
      ...(endpoint.sentinels
        ? { REDIS_SENTINELS: endpoint.sentinels.join(','), REDIS_MASTER_NAME: endpoint.masterName }
        : { REDIS_URL: endpoint.url! }),
      // One replica must hold a write before it is acknowledged: Sentinel promotes the most up-to-date one.
      REDIS_WAIT_REPLICAS: String(Math.min(1, profile.redisPerGroup - 1)),
      // The order service looks prices up through the gateway, which balances and fails over.
      STOCK_URL: gatewayUrl,
      MAX_CHECKOUTS_IN_FLIGHT: String(2 * CHECKOUTS_PER_ORDER_REPLICA),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    }
  }

  const monitoredGroups = DATA_GROUPS.map((group) => ({
    group,
    masterPort: masterPortOf(group),
    replicas: profile.redisPerGroup - 1,
  }))
  const processes: ProcessSpec[] = [
    ...redisMembers.map((member) => redisSpec(member, runDir, sentinels)),
    ...(sentinels ? sentinelPorts.map((port, index) => sentinelSpec(`sentinel-${index + 1}`, port, monitoredGroups, sentinels, runDir)) : []),
    ...kafkaNodes.map((node) => kafkaNodeSpec(node, kafka)),
  ]
  if (withServices) {
    for (const role of SERVICE_ROLES) {
      for (const instance of count(profile.replicas[role])) {
        processes.push(serviceSpec(role, instance, servicePorts.get(`${role}-${instance}`)!, serviceEnv(role, instance)))
      }
    }
    const upstream = (role: ServiceRole) => count(profile.replicas[role]).map((instance) => servicePorts.get(`${role}-${instance}`)!)
    processes.push(
      gatewaySpec({
        port: gatewayPort,
        upstreams: { order: upstream('order'), stock: upstream('stock'), payment: upstream('payment') },
        checkoutLimit: CHECKOUTS_PER_ORDER_REPLICA * profile.replicas.order,
        runDir,
        statusPort: observePorts?.gatewayStatus,
      }),
    )
  }
  if (observePorts) {
    const services = withServices ? SERVICE_ROLES.flatMap((role) => count(profile.replicas[role]).map((i) => ({ name: `${role}-${i}`, role, port: servicePorts.get(`${role}-${i}`)! }))) : []
    const targets = {
      services,
      kafka: kafkaNodes.map((node) => ({ name: node.name, metricsPort: node.metricsPort! })),
      redis: redisMembers.map((member) => ({ name: member.name, group: member.group, port: member.port })),
      sentinels: sentinelPorts.map((port, index) => ({ name: `sentinel-${index + 1}`, port })),
      gatewayStatusPort: withServices ? observePorts.gatewayStatus : undefined,
    }
    processes.push(...observabilitySpecs(targets, observePorts, runDir))
  }

  const prometheusUrl = observePorts && `http://127.0.0.1:${observePorts.prometheus}`
  return { profile: profileName, gatewayUrl, prometheusUrl, kafkaBrokers, redis, processes, serviceEnv }
}
