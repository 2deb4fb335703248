// Whether a consumer's replica can do its work: its store answers, and its replies go out. One that
// could not for HAND_OVER_AFTER_MS hands its partitions over (leaves its group) until it can again, so
// that a replica that can takes them: one cut off from its Redis by a partition held them for its length.
// Batches alone would not tell: a replica cut off from its Redis often gets none, its fetches failing
// too, and yet it keeps its partitions.
import { setTimeout as sleep } from 'node:timers/promises'
import { within } from './consumer-session.js'
import type { Publisher } from './kafka.js'
import type { Logger } from './logger.js'
import { metrics } from './metrics.js'

/** A replica that could not work this long hands its partitions over; longer than a Redis failover (5-7 s). */
const HAND_OVER_AFTER_MS = 8000
/** With no batch gone through for this long, the replica checks whether it can still work (canWork). */
const PROBE_IDLE_MS = 1000
const PROBE_TIMEOUT_MS = 2000
/** A replica whose replies have been trying to go out this long cannot work: its publisher is stuck. */
const PUBLISH_STUCK_MS = 2000

export class WorkCheck {
  /** When this replica last did its work: a batch made durable, or canWork passed (Date.now()). */
  #workedAt = Date.now()
  #probing = false
  #sittingOut = false

  /** `canWork` throws while the replica cannot work (e.g. a write made durable); without it, it always can. */
  constructor(
    private readonly canWork: (() => Promise<void>) | undefined,
    private readonly publisher: Publisher,
    private readonly logger: Logger,
    private readonly groupId: string,
  ) {}

  /** True while this replica is out of its group because it cannot work. */
  get sittingOut(): boolean {
    return this.#sittingOut
  }

  /** The replica worked just now (it joined its group). */
  worked(): void {
    this.#workedAt = Date.now()
  }

  /** A batch was made durable: that is work, unless its replies cannot go out. */
  batchDone(): void {
    if (this.publisher.pendingMs() < PUBLISH_STUCK_MS) this.#workedAt = Date.now()
  }

  /**
   * Why the replica should hand its partitions over, once it has not worked for HAND_OVER_AFTER_MS and
   * cannot now; otherwise undefined. Asks only while no batch has gone through lately: under load every
   * batch says it can, and no probe costs a checkout anything.
   */
  async handOverReason(): Promise<string | undefined> {
    if (!this.canWork || this.#probing || Date.now() - this.#workedAt < PROBE_IDLE_MS) return undefined
    this.#probing = true
    try {
      const failure = await this.#probe()
      return failure !== undefined && Date.now() - this.#workedAt > HAND_OVER_AFTER_MS ? failure : undefined
    } finally {
      this.#probing = false
    }
  }

  /**
   * Before a join: a replica that has not worked for HAND_OVER_AFTER_MS and cannot now stays out, rather
   * than take partitions it would hold unworked (nothing probes between sessions, and a join can take 8 s).
   */
  async stayOutWhileUnfit(running: () => boolean): Promise<void> {
    if (!this.canWork || Date.now() - this.#workedAt <= HAND_OVER_AFTER_MS) return
    const failure = await this.#probe()
    if (failure !== undefined) await this.sitOut(failure, running)
  }

  /** Out of the group (its session expires, and its partitions go to the others) until this replica can work. */
  async sitOut(reason: string, running: () => boolean): Promise<void> {
    metrics.kafkaErrors.inc({ operation: 'hand-over' })
    this.logger.warn({ groupId: this.groupId, err: reason }, 'this replica cannot work: leaving the group until it can again')
    this.#sittingOut = true
    try {
      for (let attempt = 1; running(); attempt++) {
        if ((await this.#probe()) === undefined) {
          this.logger.info({ groupId: this.groupId, attempt }, 'this replica can work again: rejoining the group')
          return
        }
        await sleep(1000)
      }
    } finally {
      this.#sittingOut = false
    }
  }

  /** Why this replica cannot work now (its store, or its replies stuck), or undefined if it can, which counts as having worked just now. */
  async #probe(): Promise<string | undefined> {
    // Cut off from one broker, a replica may reach its Redis and fetch, yet publish no reply.
    if (this.publisher.pendingMs() > PUBLISH_STUCK_MS) return 'replies not going out'
    const failure = await within(this.canWork!().then(() => '', (err: Error) => err.message), PROBE_TIMEOUT_MS)
    if (failure === '') {
      this.#workedAt = Date.now()
      return undefined
    }
    return failure ?? 'timed out'
  }
}
