// HTTP checkouts waiting for their saga's outcome. Outcomes arrive on a Redis pub/sub channel (every
// order replica hears every outcome); a slow poll of the stored outcomes covers a message missed
// during a reconnect or failover.
import type { Logger } from '../../platform/logger.js'
import type { Redis } from '../../platform/redis.js'
import type { Background } from '../../platform/service.js'
import type { Outcome } from './domain.js'
import { OUTCOME_CHANNEL, type OrderStore } from './store.js'

const POLL_INTERVAL_MS = 1000

interface Waiter {
  since: number
  settle(outcome: Outcome | undefined): void
}

export class CheckoutWaiters implements Background {
  readonly #waiting = new Map<string, Waiter[]>()
  readonly #subscriber: Redis
  readonly #poller: NodeJS.Timeout

  constructor(
    redis: Redis,
    private readonly store: OrderStore,
    private readonly logger: Logger,
  ) {
    this.#subscriber = redis.duplicate()
    this.#subscriber.on('message', (_channel: string, text: string) => {
      const space = text.indexOf(' ')
      this.#settle(text.slice(0, space), text.slice(space + 1))
    })
    this.#poller = setInterval(() => void this.#poll(), POLL_INTERVAL_MS)
    this.#poller.unref()
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(OUTCOME_CHANNEL)
  }

  /** Resolves with the saga's outcome, or undefined if none came within timeoutMs. Register before publishing. */
  wait(sagaId: string, timeoutMs: number): Promise<Outcome | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#remove(sagaId, waiter, undefined), timeoutMs)
      const waiter: Waiter = {
        since: Date.now(),
        settle: (outcome) => {
          clearTimeout(timer)
          resolve(outcome)
        },
      }
      const list = this.#waiting.get(sagaId)
      if (list) list.push(waiter)
      else this.#waiting.set(sagaId, [waiter])
    })
  }

  stop(): void {
    clearInterval(this.#poller)
    for (const list of this.#waiting.values()) for (const waiter of list) waiter.settle(undefined)
    this.#waiting.clear()
    this.#subscriber.disconnect()
  }

  #settle(sagaId: string, outcome: Outcome): void {
    const list = this.#waiting.get(sagaId)
    if (!list) return
    this.#waiting.delete(sagaId)
    for (const waiter of list) waiter.settle(outcome)
  }

  #remove(sagaId: string, waiter: Waiter, outcome: Outcome | undefined): void {
    const list = this.#waiting.get(sagaId)
    if (list) {
      const rest = list.filter((w) => w !== waiter)
      if (rest.length > 0) this.#waiting.set(sagaId, rest)
      else this.#waiting.delete(sagaId)
    }
    waiter.settle(outcome)
  }

  async #poll(): Promise<void> {
    const cutoff = Date.now() - POLL_INTERVAL_MS
    const overdue = [...this.#waiting].filter(([, list]) => list[0]!.since < cutoff).map(([sagaId]) => sagaId)
    if (overdue.length === 0) return
    try {
      const outcomes = await this.store.outcomes(overdue)
      overdue.forEach((sagaId, i) => {
        const outcome = outcomes[i]
        if (outcome) this.#settle(sagaId, outcome)
      })
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'outcome poll failed')
    }
  }
}
