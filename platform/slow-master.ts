// Moves a service's Redis master away from a slow link. Sentinel fails over a master that stops
// answering, not one that answers late: a host whose link goes slow and lossy keeps its masters, and
// every write of the group crosses that link (measured: checkouts waited up to 18.6 s with three
// masters there, under 5 s with none). So each service replica times PINGs to its group's master and
// replicas; once the master answers this replica ten times slower than every replica does, and over
// 50 ms most of the time, it hands the master over to a replica (master-handover.ts).
// Comparing with the replicas keeps a replica on the slow host itself from acting (it sees the other
// hosts' replicas as slow as the master), and load on this process (timers run late for all alike).
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import type { RedisConfig } from './config.js'
import type { Logger } from './logger.js'
import { handOverMaster, HANDOVER_LOCK_MS, masterAddress, promotableReplicas } from './master-handover.js'
import { metrics } from './metrics.js'

const PROBE_INTERVAL_MS = 500
/** A PING unanswered by then counts as no answer (and a master that answers none is Sentinel's to fail over). */
const PROBE_TIMEOUT_MS = 3000
/** Samples per node the verdict takes (the last ones), about 3 s. */
const WINDOW = 6
/** The master is slow once this many of its last WINDOW PINGs were answered after SLOW_MS or more (a burst is not)... */
const SLOW_SAMPLES = 4
const SLOW_MS = 50
/** ...if every replica's median is this many times lower. */
const SLOWER_BY = 10
/** How often the master and replicas are asked of Sentinel. */
const DISCOVER_MS = 5000
/** After a hand-over that did not happen, when to try again. */
const RETRY_MS = 5000

/** A round trip in ms, or undefined for a PING not answered in PROBE_TIMEOUT_MS. */
export type Sample = number | undefined

const ascending = (values: number[]) => [...values].sort((a, b) => a - b)

/**
 * Whether the last WINDOW samples say the master is slow while every replica is fast: SLOW_SAMPLES of
 * the master's PINGs were answered, after SLOW_MS or more, and each replica answered every PING, with a
 * median SLOWER_BY times below the fastest of those. A PING not answered is no evidence: a master that
 * answers none is down or cut off, Sentinel's case; and when a stalled connection comes back, the PING
 * that waited through the stall is answered late, one sample, not a slow master.
 */
export function masterIsSlow(master: Sample[], replicas: Sample[][]): boolean {
  const recent = master.slice(-WINDOW)
  const slow = ascending(recent.filter((rtt): rtt is number => rtt !== undefined && rtt >= SLOW_MS))
  if (recent.length < WINDOW || slow.length < SLOW_SAMPLES || replicas.length === 0) return false
  const masterMs = slow[slow.length - SLOW_SAMPLES]!
  return replicas.every((samples) => {
    const last = samples.slice(-WINDOW)
    return last.length === WINDOW && last.every((rtt) => rtt !== undefined) && ascending(last as number[])[WINDOW / 2]! * SLOWER_BY <= masterMs
  })
}

interface Probed {
  redis: Redis
  samples: Sample[]
  timer?: NodeJS.Timeout
}

/** Runs for the life of the service (with Sentinel only); stop() ends it and closes its connections. */
export class SlowMasterWatch {
  readonly #nodes = new Map<string, Probed>()
  #sentinelIndex = 0
  #sentinel: Redis | undefined
  #master: string | undefined
  #replicas: string[] = []
  #nextTryAt = 0
  #handingOver = false
  #discovery: NodeJS.Timeout | undefined

  constructor(
    private readonly config: RedisConfig,
    private readonly logger: Logger,
    private readonly connectionName: string,
  ) {}

  start(): void {
    const discover = () => void this.#discover().catch((err: Error) => this.logger.debug({ err: err.message }, 'slow-master watch: Sentinel not answering'))
    discover()
    this.#discovery = setInterval(discover, DISCOVER_MS).unref()
  }

  stop(): void {
    clearInterval(this.#discovery)
    for (const address of [...this.#nodes.keys()]) this.#forget(address)
    this.#sentinel?.disconnect()
  }

  /** A connection to one Sentinel; after a failure the next one is tried. */
  async #askSentinel<T>(ask: (sentinel: Redis) => Promise<T>): Promise<T> {
    const sentinels = this.config.sentinels!
    this.#sentinel ??= this.#connect(sentinels[this.#sentinelIndex % sentinels.length]!, this.config.sentinelPassword)
    try {
      return await ask(this.#sentinel)
    } catch (err) {
      this.#sentinel.disconnect()
      this.#sentinel = undefined
      this.#sentinelIndex++
      throw err
    }
  }

  #connect({ host, port }: { host: string; port: number }, password?: string, username?: string): Redis {
    const redis = new Redis({
      host,
      port,
      username,
      password,
      connectionName: `${this.connectionName}-watch`,
      commandTimeout: PROBE_TIMEOUT_MS,
      connectTimeout: PROBE_TIMEOUT_MS,
      // Commands wait for the connection (bounded by commandTimeout): a PING to a node down is no answer.
      maxRetriesPerRequest: 0,
      retryStrategy: () => 1000,
    })
    redis.on('error', () => {}) // a node down is what the samples say; Sentinel handles it
    return redis
  }

  async #discover(): Promise<void> {
    const group = this.config.masterName
    const [master, replicas] = await this.#askSentinel(async (s) => [await masterAddress(s, group), await promotableReplicas(s, group)] as const)
    if (master !== this.#master) for (const node of this.#nodes.values()) node.samples = [] // a new master: new comparisons
    this.#master = master
    this.#replicas = replicas
    const wanted = new Set([master, ...replicas])
    for (const address of this.#nodes.keys()) if (!wanted.has(address)) this.#forget(address)
    for (const address of wanted) if (!this.#nodes.has(address)) this.#probe(address)
  }

  #probe(address: string): void {
    const [host, port] = address.split(':')
    const node: Probed = { redis: this.#connect({ host: host!, port: Number(port) }, this.config.password, this.config.username), samples: [] }
    this.#nodes.set(address, node)
    const round = async () => {
      const started = performance.now()
      const rtt = await node.redis.ping().then(() => performance.now() - started, () => undefined)
      if (this.#nodes.get(address) !== node) return
      node.samples = [...node.samples.slice(1 - WINDOW), rtt]
      if (address === this.#master) this.#judge()
      node.timer = setTimeout(round, Math.max(0, PROBE_INTERVAL_MS - (performance.now() - started))).unref()
    }
    void round()
  }

  #forget(address: string): void {
    const node = this.#nodes.get(address)
    this.#nodes.delete(address)
    clearTimeout(node?.timer)
    node?.redis.disconnect()
  }

  #judge(): void {
    const master = this.#master && this.#nodes.get(this.#master)
    if (!master || this.#handingOver || Date.now() < this.#nextTryAt) return
    const replicas = this.#replicas.map((address) => this.#nodes.get(address)).filter((node): node is Probed => node !== undefined)
    if (!masterIsSlow(master.samples, replicas.map((node) => node.samples))) return
    void this.#handOver(this.#master!, master)
  }

  async #handOver(address: string, master: Probed): Promise<void> {
    this.#handingOver = true
    const group = this.config.masterName
    const context = { group, master: address, masterMs: master.samples.map((rtt) => (rtt === undefined ? null : Math.round(rtt))) }
    this.logger.warn(context, 'redis master answers far slower than its replicas; handing it over')
    try {
      const replicas = new Map(this.#replicas.flatMap((a) => (this.#nodes.has(a) ? [[a, this.#nodes.get(a)!.redis] as const] : [])))
      const promoted = await this.#askSentinel((sentinel) => handOverMaster(sentinel, group, { master: { address, redis: master.redis }, replicas }, this.connectionName))
      metrics.redisHandovers.inc({ outcome: 'moved' })
      this.logger.warn({ ...context, promoted }, 'redis master handed over')
      this.#nextTryAt = Date.now() + HANDOVER_LOCK_MS
      await this.#discover().catch(() => {})
    } catch (err) {
      metrics.redisHandovers.inc({ outcome: 'not-moved' })
      this.logger.warn({ ...context, err: (err as Error).message }, 'redis master not handed over')
      this.#nextTryAt = Date.now() + RETRY_MS
      await this.#discover().catch(() => {}) // another replica may have handed it over
    } finally {
      this.#handingOver = false
    }
  }
}
