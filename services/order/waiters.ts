// HTTP checkouts waiting for their saga's outcome. The outcome reaches the replica that waits directly
// when that replica also handles the outcome command, and otherwise over its own Redis pub/sub channel.
// A slow poll of the stored outcomes covers the rest: a message missed during a reconnect, or a request
// retried on another replica after the first one died.
import type { Logger } from '../../platform/logger.js'
import { closeRedis, keepConnected, type Redis } from '../../platform/redis.js'
import type { Background } from '../../platform/service.js'
import type { Outcome } from './domain.js'
import type { OrderStore } from './store.js'

const POLL_INTERVAL_MS = 1000

interface Waiter {
  since: number
  deadline: number
  settle(outcome: Outcome | undefined): void
}

export class CheckoutWaiters implements Background {
  readonly #waiting = new Map<string, Waiter[]>()
  readonly #subscriber: Redis
  readonly #poller: NodeJS.Timeout

  constructor(
    private readonly redis: Redis,
    private readonly store: OrderStore,
    private readonly instanceId: string,
    private readonly logger: Logger,
  ) {
    this.#subscriber = redis.duplicate()
    // Subscribed to a master cut off by a partition, it would hear nothing, and never know it.
    keepConnected(this.#subscriber, logger, `${instanceId}-outcomes`)
    this.#subscriber.on('message', (_channel: string, text: string) => {
      const space = text.indexOf(' ')
      this.settle(text.slice(0, space), text.slice(space + 1))
    })
    this.#poller = setInterval(() => void this.#poll(), POLL_INTERVAL_MS)
    this.#poller.unref()
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(channelOf(this.instanceId))
  }

  /** Resolves with the saga's outcome, or undefined if none came within timeoutMs. Register before publishing. */
  wait(sagaId: string, timeoutMs: number): Promise<Outcome | undefined> {
    return new Promise((resolve) => {
      const now = Date.now()
      const waiter: Waiter = { since: now, deadline: now + timeoutMs, settle: resolve }
      const list = this.#waiting.get(sagaId)
      if (list) list.push(waiter)
      else this.#waiting.set(sagaId, [waiter])
    })
  }

  /**
   * Hands an outcome to the replica waiting for it (`origin`): here directly, elsewhere by pub/sub. A
   * message lost on the way is no loss: that replica polls the stored outcomes of its overdue waits.
   */
  deliver(origin: string, sagaId: string, outcome: Outcome): void {
    if (origin === this.instanceId) this.settle(sagaId, outcome)
    else if (origin) this.redis.publish(channelOf(origin), `${sagaId} ${outcome}`).catch((err: Error) => this.logger.warn({ err: err.message, sagaId, origin }, 'outcome not handed over; its replica will poll'))
  }

  stop(): void {
    clearInterval(this.#poller)
    for (const list of this.#waiting.values()) for (const waiter of list) waiter.settle(undefined)
    this.#waiting.clear()
    closeRedis(this.#subscriber)
  }

  /** Answers the requests of this replica that wait for the saga, if any. */
  settle(sagaId: string, outcome: Outcome | undefined): void {
    const list = this.#waiting.get(sagaId)
    if (!list) return
    this.#waiting.delete(sagaId)
    for (const waiter of list) waiter.settle(outcome)
  }

  async #poll(): Promise<void> {
    const now = Date.now()
    const overdue: string[] = []
    for (const [sagaId, list] of this.#waiting) {
      if (list[0]!.deadline <= now) this.settle(sagaId, undefined)
      else if (list[0]!.since < now - POLL_INTERVAL_MS) overdue.push(sagaId)
    }
    if (overdue.length === 0) return
    try {
      const outcomes = await this.store.outcomes(overdue)
      overdue.forEach((sagaId, i) => {
        const outcome = outcomes[i]
        if (outcome) this.settle(sagaId, outcome)
      })
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'outcome poll failed')
    }
  }
}

function channelOf(instanceId: string): string {
  return `checkout-outcomes:${instanceId}`
}
