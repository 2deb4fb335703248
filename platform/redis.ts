// Redis access: one client per process (direct or through Sentinel), Lua scripts loaded from files,
// and the durability barrier that keeps an effect from being announced before a replica has it.
// Script runs and WAITs are client spans when tracing; failures are counted.
import { readFileSync } from 'node:fs'
import { Redis, type ChainableCommander } from 'ioredis'
import type { RedisConfig } from './config.js'
import type { Logger } from './logger.js'
import { metrics } from './metrics.js'
import { Attr, inSpan, SpanKind, SpanName, tracing } from './telemetry.js'

export type { Redis }
export type ScriptArg = string | number
export type Script = (keys: string[], args: ScriptArg[]) => Promise<unknown>

export function connectRedis(config: RedisConfig, logger: Logger, connectionName: string): Redis {
  const common = {
    connectionName,
    // Off: an auto-pipeline is sent only once the one before it is answered, so a command's timeout
    // started only then, up to twice commandTimeout after its call on a connection gone silent (a
    // partition). Off also measured 5-7 % less CPU per checkout (docs/BENCHMARKS.md).
    enableAutoPipelining: false,
    // Commands wait (bounded) through a reconnect or a failover instead of failing at once.
    maxRetriesPerRequest: 40,
    retryStrategy: (times: number) => Math.min(50 + times * 50, 500),
    // Across a network a Redis or Sentinel may be unreachable (a partition drops packets, nothing is
    // refused): give up on a connection attempt after this, and try the next Sentinel.
    connectTimeout: CONNECT_TIMEOUT_MS,
    sentinelCommandTimeout: CONNECT_TIMEOUT_MS,
    // A command not answered by then fails (the request answers 503, the gateway tries another replica,
    // which for a failover, 5-7 s from a master's death to the clients' switch, is just as late: its
    // third try finds the new master; a message is retried): a replica cut off from its Redis answers
    // instead of hanging.
    commandTimeout: COMMAND_TIMEOUT_MS,
    username: config.username,
    password: config.password,
  }
  const client = config.sentinels
    ? new Redis({
        ...common,
        sentinels: config.sentinels,
        name: config.masterName,
        sentinelPassword: config.sentinelPassword,
        sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
        // Follow a failover as soon as Sentinel announces it, not on the next error.
        failoverDetector: true,
      })
    : new Redis(config.url ?? 'redis://127.0.0.1:6379', common)
  keepConnected(client, logger, connectionName)
  return client
}

const CONNECT_TIMEOUT_MS = 2000
const COMMAND_TIMEOUT_MS = 5000
const LIVENESS_INTERVAL_MS = 1000
const LIVENESS_TIMEOUT_MS = 3000
const REVIVE_DELAY_MS = 500

/** When each client last heard its Redis answer: connected, or a liveness PING answered. */
const lastHeard = new WeakMap<Redis, number>()

/** How long the client has heard nothing from its Redis (about a second at most while it is healthy). */
export function silentForMs(client: Redis): number {
  return Date.now() - (lastHeard.get(client) ?? Date.now())
}

/**
 * Keeps a client connected through partitions and failovers, for as long as the process runs, and
 * logs its connection errors:
 * - A connection whose server went silent (cut off by a partition: no reset ever comes, and queued
 *   commands would wait forever) is dropped and made anew: through Sentinel, to whoever is master now.
 *   Commands in flight are sent again on the new connection; every write script is idempotent.
 * - ioredis gives up on a client for good ('end') when something closes it while it is connecting:
 *   seen when a Sentinel announced a failover during a reconnect (the previous connection's failover
 *   detector outlives it). Until it connects again every command fails at once, so connect again.
 */
export function keepConnected(client: Redis, logger: Logger, connectionName: string): void {
  const heard = () => lastHeard.set(client, Date.now())
  heard()
  client.on('ready', heard)
  client.on('error', (err: Error) => {
    metrics.redisErrors.inc({ operation: 'connection' })
    logger.warn({ err: err.message, redis: connectionName }, 'redis error')
  })
  let probing = false
  const timer = setInterval(() => {
    if (probing || client.status !== 'ready') return
    probing = true
    const probed = client.stream
    const silent = setTimeout(() => {
      // Only the connection probed: one already being replaced must be left to connect (closing it
      // mid-connect ends the client).
      if (client.status !== 'ready' || client.stream !== probed) return
      metrics.redisErrors.inc({ operation: 'liveness' })
      logger.warn({ redis: connectionName, silentMs: LIVENESS_TIMEOUT_MS }, 'redis stopped answering; reconnecting')
      client.disconnect(true)
    }, LIVENESS_TIMEOUT_MS)
    client
      .ping()
      .then(heard)
      .catch(() => {}) // a failed PING is the connection's error, reported by its 'error' handler
      .finally(() => {
        clearTimeout(silent)
        probing = false
      })
  }, LIVENESS_INTERVAL_MS)
  timer.unref()
  client.on('end', () => {
    if (closing.has(client)) return clearInterval(timer)
    metrics.redisErrors.inc({ operation: 'revive' })
    logger.warn({ redis: connectionName }, 'redis client given up by ioredis; connecting again')
    setTimeout(() => {
      // A failed attempt ends the client again, and so comes back here.
      if (!closing.has(client) && client.status === 'end') client.connect().catch(() => {})
    }, REVIVE_DELAY_MS).unref()
  })
}

const closing = new WeakSet<Redis>()

/** Closes a client on purpose (a shutdown), as opposed to losing it: keepConnected lets it go. */
export function closeRedis(client: Redis): void {
  closing.add(client)
  client.disconnect()
}

/** The fields of an INFO section. */
export async function infoFields(redis: Redis, section: string): Promise<Map<string, string>> {
  const text = await redis.info(section)
  return new Map(text.split('\r\n').flatMap((line) => (line.includes(':') ? [line.split(/:(.*)/s).slice(0, 2) as [string, string]] : [])))
}

/** A Sentinel reply's flat [name, value, ...] list (SENTINEL MASTER, each of SENTINEL REPLICAS) as an object. */
export function sentinelFields(flat: unknown): Record<string, string> {
  const list = flat as string[]
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]!] = list[i + 1]!
  return fields
}

/** Scripts any service may use (platform/scripts: creating an entity). */
export const platformScriptsDir = new URL('./scripts/', import.meta.url)

/**
 * Loads `<dir>/<name>.lua` and returns a function running it atomically with EVALSHA
 * (ioredis falls back to EVAL when the server does not have the script cached, e.g. after a failover).
 * Each script begins with `#!lua`: so declared, a script that may write is refused before it runs by a
 * replica, or by a master that cannot replicate (min-replicas-to-write), as a deposed master after a
 * partition: one that ran first read what that master had, and answered "not found" for new entities.
 */
export function loadScript(redis: Redis, dir: URL, name: string): Script {
  const lua = readFileSync(new URL(`${name}.lua`, dir), 'utf8')
  const command = `script_${name.replaceAll('-', '_')}`
  redis.defineCommand(command, { lua })
  const run = (redis as unknown as Record<string, (...args: ScriptArg[]) => Promise<unknown>>)[command]!
  const countFailure = (err: unknown) => {
    metrics.redisErrors.inc({ operation: name })
    throw err
  }
  const attributes = { [Attr.dbSystem]: 'redis', [Attr.dbOperation]: 'EVALSHA', [Attr.redisScript]: name }
  return (keys, args) => {
    const call = () => run.call(redis, keys.length, ...keys, ...args).catch(countFailure)
    return tracing() ? inSpan(SpanName.redis(name), SpanKind.CLIENT, attributes, call) : call()
  }
}

/**
 * The durability barrier of one Redis connection: wait() resolves once `replicas` replicas hold every
 * write this connection made before the call (Redis WAIT), and throws when they do not acknowledge in
 * time, so the caller does not announce the effect. Callers share WAITs: one is in flight at a time, and
 * everyone who arrives meanwhile joins the next one, which is sent after their writes and so covers
 * them. Under load that is a WAIT per round trip instead of one per write.
 */
export class DurabilityBarrier {
  #inFlight: Promise<void> | undefined
  #next: Promise<void> | undefined
  /** The last WAIT came back short, or the replicas stopped acknowledging: the master may be cut off from them (a partition). */
  #fallingShort = false
  #reviewing = false
  #checking: Promise<boolean> | undefined

  constructor(
    private readonly redis: Redis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {}

  wait(): Promise<void> {
    if (this.replicas <= 0) return Promise.resolve()
    // A caller waits at most the budget from its arrival, also when it joins the next WAIT: a request
    // that queued behind a failing one used to wait out both (10 s: as long as the gateway gives a
    // replica, so the gateway's retry came late instead of the replica's fast 503).
    const deadline = Date.now() + REPLICATION_ATTEMPTS * this.timeoutMs
    if (!this.#inFlight) return this.#send(deadline)
    this.#next ??= this.#inFlight.then(noop, noop).then(() => {
      this.#next = undefined
      return this.#send(deadline)
    })
    return this.#next
  }

  /**
   * Whether this connection's writes reach the replicas. Once a WAIT fell short (a master cut off from
   * its replicas by a partition, still answering reads, or every replica down), a WAIT of its own says
   * whether they answer again: nothing else may write here to tell. A master it cannot reach is not
   * known to be cut off (true): the caller's own commands wait for the failover, or fail.
   */
  async replicating(): Promise<boolean> {
    if (this.replicas <= 0 || !this.#fallingShort) return true
    // One WAIT for every caller meanwhile: a WAIT holds the connection's later commands behind it.
    this.#checking ??= this.redis
      .wait(this.replicas, this.timeoutMs)
      .then(
        (acked) => (this.#fallingShort = acked < this.replicas),
        () => {},
      )
      .then(() => {
        this.#checking = undefined
        return !this.#fallingShort
      })
    return this.#checking
  }

  /**
   * Looks at the master's replicas (INFO replication): when fewer than `replicas` of them have
   * acknowledged within FOLLOWING_LAG_S (each does every second), or the connection is not to a master
   * at all, the master may be cut off from them, or deposed by a failover on the other side of a
   * partition; it still answers reads, as of the cut. Marked so, this connection's reads too wait for
   * a WAIT of its own to say the replicas follow (replicating()).
   */
  async reviewReplication(): Promise<void> {
    if (this.replicas <= 0 || this.#fallingShort || this.#reviewing) return
    this.#reviewing = true
    try {
      const info = await infoFields(this.redis, 'replication')
      // Each replica is a line `slave<N>:ip=…,port=…,state=online,offset=…,lag=<seconds>`.
      const following = [...info].filter(([name, value]) => /^slave\d+$/.test(name) && /state=online/.test(value) && Number(/lag=(\d+)/.exec(value)?.[1]) <= FOLLOWING_LAG_S).length
      if (info.get('role') !== 'master' || following < this.replicas) this.#fallingShort = true
    } catch {
      // Unanswered: the connection's own commands wait for the failover, or fail.
    } finally {
      this.#reviewing = false
    }
  }

  #send(deadline: number): Promise<void> {
    const sent = this.#waitForReplicas(deadline).finally(() => {
      if (this.#inFlight === sent) this.#inFlight = undefined
    })
    this.#inFlight = sent
    return sent
  }

  #waitForReplicas(deadline: number): Promise<void> {
    // A replica that is resyncing (after a restart or a failover) acknowledges again within seconds:
    // keep asking until the deadline rather than failing the request at the first timeout.
    const wait = async () => {
      let acked = 0
      do {
        acked = await this.redis.wait(this.replicas, this.timeoutMs)
        this.#fallingShort = acked < this.replicas
        if (!this.#fallingShort) return
      } while (Date.now() + this.timeoutMs <= deadline)
      metrics.redisErrors.inc({ operation: 'wait' })
      throw new Error(`only ${acked}/${this.replicas} Redis replicas acknowledged the write`)
    }
    return tracing() ? inSpan(SpanName.redis('WAIT'), SpanKind.CLIENT, { [Attr.dbSystem]: 'redis', [Attr.dbOperation]: 'WAIT' }, wait) : wait()
  }
}

const noop = () => {}

/** How many WAIT timeouts a caller's write may take to reach its replicas. */
const REPLICATION_ATTEMPTS = 5
/** A replica whose last acknowledgement is older than this (it sends one a second) may be cut off. */
const FOLLOWING_LAG_S = 3

/** Scripts prefix an answer repeated from an idempotency record with this, so replays can be counted. */
const REPLAY_MARK = 'REPLAY:'

/** The script's answer without its replay mark; a replay is counted under `operation`. */
export function unmarkReplay(reply: string, operation: string): string {
  if (!reply.startsWith(REPLAY_MARK)) return reply
  metrics.idempotentReplays.inc({ operation })
  return reply.slice(REPLAY_MARK.length)
}

/** Runs a pipeline and throws the first command error instead of leaving it in the result array. */
export async function execPipeline(pipeline: ChainableCommander): Promise<void> {
  const results = (await pipeline.exec()) ?? []
  const failed = results.find(([err]) => err)
  if (failed) throw failed[0]
}
