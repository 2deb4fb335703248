// Whether a consumer group member has lost its coordinator, read from its client's heartbeat events.
// The client notices late on its own: a (re)join it cannot finish is given up only after nested
// retries of FindCoordinator, Metadata and JoinGroup (30-60 s), and behind a partition that leaves a
// connection silent nothing fails at all. The consumer loop replaces a session this finds cut off.
import type { EventEmitter } from 'node:events'
import { FAILING_HEARTBEAT_LIMIT_MS, MEMBER_SILENCE_LIMIT_MS } from './kafka.js'

export interface Silence {
  /** Since the member last heard from its coordinator: a heartbeat answered, or a (re)join done. */
  silentMs: number
  why: string
}

/**
 * Heartbeats start every second; outside a (re)join each is answered within milliseconds, and one
 * missing for the session timeout (3 s) means the coordinator has already expelled the member. So:
 * - heartbeats that fail, or that the client itself reports stalled (sent, and no answer within the
 *   rebalance timeout; it allows a rejoin that much more), are given FAILING_HEARTBEAT_LIMIT_MS;
 * - heartbeats that do not even start (the client stuck before sending, e.g. asking a silent broker
 *   for metadata) are given as long, counted from the last one started;
 * - anything else, such as a rejoin the coordinator holds, MEMBER_SILENCE_LIMIT_MS.
 */
export class MemberSilence {
  #heardAt: number
  #startedAt: number
  /** A heartbeat started and not yet answered, or the rejoin its answer asked for under way. */
  #pending = false
  #failing = false

  constructor(consumer: EventEmitter, joinedAt: number) {
    this.#heardAt = this.#startedAt = joinedAt
    consumer.on('consumer:heartbeat:start', () => {
      this.#startedAt = Date.now()
      this.#pending = true
    })
    consumer.on('consumer:heartbeat:end', () => this.#heard())
    // The client rejoins, and emits nothing until the join is done.
    consumer.on('consumer:group:join', () => this.#heard())
    consumer.on('consumer:heartbeat:error', () => {
      this.#pending = false
      this.#failing = true
    })
    consumer.on('consumer:heartbeat:stalled', () => (this.#failing = true))
  }

  /** Why the member counts as cut off from its coordinator at `now`, or undefined while it does not. */
  verdict(now = Date.now()): Silence | undefined {
    const silentMs = now - this.#heardAt
    if (silentMs > MEMBER_SILENCE_LIMIT_MS) return { silentMs, why: 'no heartbeat answered' }
    if (silentMs <= FAILING_HEARTBEAT_LIMIT_MS) return undefined
    if (this.#failing) return { silentMs, why: 'heartbeats failing' }
    if (!this.#pending && now - this.#startedAt > FAILING_HEARTBEAT_LIMIT_MS) return { silentMs, why: 'heartbeats not sent' }
    return undefined
  }

  #heard(): void {
    this.#heardAt = Date.now()
    this.#pending = false
    this.#failing = false
  }
}
