// One typed, validated configuration object per process, read once at start-up from the environment.
// Defaults work for a single local process; the cluster launcher sets every variable explicitly.

export type ServiceName = 'order' | 'stock' | 'payment'

export interface RedisConfig {
  /** redis://host:port when a single Redis is used (default profile). */
  url?: string
  /** host:port of each Sentinel when the master is found through Sentinel (ha profile). */
  sentinels?: { host: string; port: number }[]
  masterName: string
  /** The ACL user this service logs in as (none: Redis without authentication). */
  username?: string
  password?: string
  /** Sentinel's requirepass. */
  sentinelPassword?: string
  /** Replicas that must acknowledge a write (Redis WAIT) before its effect is announced. */
  waitReplicas: number
  waitTimeoutMs: number
}

export interface KafkaConfig {
  brokers: string[]
  /** SASL login (SCRAM) when the brokers' listeners require it. */
  sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN'; username: string; password: string }
  replicationFactor: number
  minInsyncReplicas: number
  partitions: number
}

export interface Config {
  service: ServiceName
  instanceId: string
  httpHost: string
  httpPort: number
  logLevel: string
  redis: RedisConfig
  kafka: KafkaConfig
  /** Base URL the order service uses to look up item prices (through the gateway by default). */
  stockUrl: string
  /** How long an idempotency record (HTTP request or message) is kept. */
  idempotencyTtlSeconds: number
  /**
   * Every request (but a batch_init) is answered within this long of its arrival, if only with 503
   * "not done yet" (a checkout waits for its saga's outcome as long): under the gateway's read timeout
   * (8 s), so that a replica that answers is never taken for one that is cut off.
   */
  requestDeadlineMs: number
  /** Checkouts one order replica runs at once; more are refused with 429 and Retry-After, changing nothing. */
  maxCheckoutsInFlight: number
  /** A saga (or pending checkout) untouched this long has its current command sent again. */
  staleAfterMs: number
}

type Env = Record<string, string | undefined>

export function loadConfig(env: Env = process.env, service?: ServiceName): Config {
  const name = service ?? parseService(env.SERVICE_NAME)
  const sentinels = env.REDIS_SENTINELS ? env.REDIS_SENTINELS.split(',').map(parseHostPort) : undefined
  return {
    service: name,
    instanceId: env.INSTANCE_ID ?? `${name}-${process.pid}`,
    httpHost: env.HTTP_HOST ?? '127.0.0.1',
    httpPort: int(env, 'HTTP_PORT', 0),
    logLevel: env.LOG_LEVEL ?? 'info',
    redis: {
      url: sentinels ? undefined : (env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
      sentinels,
      masterName: env.REDIS_MASTER_NAME ?? name,
      username: env.REDIS_USERNAME || undefined,
      password: env.REDIS_PASSWORD || undefined,
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD || undefined,
      waitReplicas: int(env, 'REDIS_WAIT_REPLICAS', 0),
      waitTimeoutMs: int(env, 'REDIS_WAIT_TIMEOUT_MS', 1000),
    },
    kafka: {
      brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean),
      sasl: env.KAFKA_SASL_USERNAME
        ? { mechanism: parseSaslMechanism(env.KAFKA_SASL_MECHANISM), username: env.KAFKA_SASL_USERNAME, password: env.KAFKA_SASL_PASSWORD ?? '' }
        : undefined,
      replicationFactor: int(env, 'KAFKA_REPLICATION_FACTOR', 1),
      minInsyncReplicas: int(env, 'KAFKA_MIN_INSYNC', 1),
      partitions: int(env, 'KAFKA_PARTITIONS', 3),
    },
    stockUrl: env.STOCK_URL ?? 'http://127.0.0.1:8000',
    idempotencyTtlSeconds: int(env, 'IDEMPOTENCY_TTL_SECONDS', 24 * 3600),
    requestDeadlineMs: int(env, 'REQUEST_DEADLINE_MS', 6_000),
    maxCheckoutsInFlight: int(env, 'MAX_CHECKOUTS_IN_FLIGHT', 1000),
    staleAfterMs: int(env, 'SAGA_STALE_AFTER_MS', 5_000),
  }
}

function parseService(value: string | undefined): ServiceName {
  if (value === 'order' || value === 'stock' || value === 'payment') return value
  throw new Error(`SERVICE_NAME must be order, stock or payment (got ${JSON.stringify(value)})`)
}

function parseSaslMechanism(value: string | undefined): NonNullable<KafkaConfig['sasl']>['mechanism'] {
  const mechanism = value ?? 'SCRAM-SHA-256'
  if (mechanism === 'SCRAM-SHA-256' || mechanism === 'SCRAM-SHA-512' || mechanism === 'PLAIN') return mechanism
  throw new Error(`KAFKA_SASL_MECHANISM must be SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (got ${JSON.stringify(value)})`)
}

function int(env: Env, key: string, fallback: number): number {
  const raw = env[key]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0) throw new Error(`${key} must be a non-negative integer (got ${raw})`)
  return value
}

/**
 * The brokers, starting at the `index`-th (modulo their number). Their order matters: a Kafka client
 * sends its metadata requests (a consumer also its search for the group coordinator) to the first one
 * that takes a connection, and one cut off by a partition costs a timeout each time it comes first.
 */
export function brokersStartingAt(brokers: string[], index: number): string[] {
  const first = index % brokers.length
  return [...brokers.slice(first), ...brokers.slice(0, first)]
}

/** `host:port`, as REDIS_SENTINELS lists them. */
export function parseHostPort(value: string): { host: string; port: number } {
  const [host, port] = value.trim().split(':')
  if (!host || !port || !Number.isInteger(Number(port))) throw new Error(`bad host:port ${JSON.stringify(value)}`)
  return { host, port: Number(port) }
}
