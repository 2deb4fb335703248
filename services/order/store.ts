// The only file that knows the order service's Redis keys:
//   order:<id>            hash {user_id, paid, total, items, checkout (saga id while one runs)}
//   checkout:<saga id>    the saga's outcome, once known
//   checkouts:pending     sorted set of orders with a running saga, by start time (for the sweeper)
import { AppError, errorFromScript } from '../../platform/errors.js'
import { httpRecord } from '../../platform/counters.js'
import type { Config } from '../../platform/config.js'
import type { Line } from '../../platform/messages.js'
import { metrics } from '../../platform/metrics.js'
import { execPipeline, loadScript, unmarkReplay, type Redis, type Script } from '../../platform/redis.js'
import { decodeLines, encodeLines, PAID, type Outcome } from './domain.js'

const scriptsDir = new URL('./scripts/', import.meta.url)
const sharedScriptsDir = new URL('../../platform/scripts/', import.meta.url)
const PENDING = 'checkouts:pending'
const BATCH_CHUNK = 5000

export interface Order {
  order_id: string
  paid: boolean
  items: Line[]
  user_id: string
  total_cost: number
}

/** A checkout saga as the order service hands it to the orchestrator. */
export interface StartedCheckout {
  orderId: string
  sagaId: string
  userId: string
  items: Line[]
  total: number
}

export type CheckoutStart = ({ kind: 'start' } & StartedCheckout) | { kind: 'join'; sagaId: string }

export class OrderStore {
  readonly #scripts: Record<'create' | 'addItem' | 'begin' | 'finish', Script>
  readonly #ttl: number

  constructor(
    readonly redis: Redis,
    config: Config,
  ) {
    this.#ttl = config.idempotencyTtlSeconds
    this.#scripts = {
      create: loadScript(redis, sharedScriptsDir, 'create-entity'),
      addItem: loadScript(redis, scriptsDir, 'add-item'),
      begin: loadScript(redis, scriptsDir, 'begin-checkout'),
      finish: loadScript(redis, scriptsDir, 'finish-checkout'),
    }
  }

  async create(orderId: string, userId: string, idempotencyKey: string | undefined): Promise<string> {
    const fields = ['user_id', userId, 'paid', '0', 'total', '0', 'items', '']
    const reply = String(await this.#scripts.create([key(orderId), httpRecord(idempotencyKey, 'create-order')], [this.#ttl, orderId, ...fields]))
    return reply.slice(3)
  }

  async find(orderId: string): Promise<Order> {
    const hash = await this.redis.hgetall(key(orderId))
    if (!hash.user_id) throw new AppError('NOT_FOUND', `order ${orderId} not found`)
    return { order_id: orderId, paid: hash.paid === '1', items: decodeLines(hash.items), user_id: hash.user_id, total_cost: Number(hash.total) }
  }

  async addItem(orderId: string, itemId: string, quantity: number, price: number, idempotencyKey: string | undefined): Promise<number> {
    const reply = String(await this.#scripts.addItem([key(orderId), httpRecord(idempotencyKey, 'add-item')], [itemId, quantity, price, this.#ttl]))
    const error = errorFromScript(reply, `order ${orderId}`)
    if (error) throw error
    return Number(reply.slice(3))
  }

  async beginCheckout(orderId: string, sagaId: string, idempotencyKey: string | undefined): Promise<CheckoutStart> {
    const reply = (await this.#scripts.begin([key(orderId), httpRecord(idempotencyKey, 'checkout'), PENDING], [sagaId, Date.now(), this.#ttl, orderId])) as string[]
    const [status, id, userId, items, total] = reply
    const error = errorFromScript(status!, `order ${orderId}`)
    if (error) throw error
    if (status === 'JOIN') {
      metrics.idempotentReplays.inc({ operation: 'checkout' })
      return { kind: 'join', sagaId: id! }
    }
    return { kind: 'start', orderId, sagaId: id!, userId: userId!, items: decodeLines(items), total: Number(total) }
  }

  /** Records the saga's outcome on the order; returns the outcome recorded first. */
  async finishCheckout(orderId: string, sagaId: string, outcome: Outcome): Promise<Outcome> {
    const reply = String(await this.#scripts.finish([key(orderId), outcomeKey(sagaId), PENDING], [sagaId, outcome, this.#ttl, orderId]))
    return unmarkReplay(reply, outcome === PAID ? 'MarkOrderPaid' : 'CancelCheckout')
  }

  async outcomes(sagaIds: string[]): Promise<(Outcome | null)[]> {
    return sagaIds.length === 0 ? [] : this.redis.mget(sagaIds.map(outcomeKey))
  }

  /** Orders whose saga started before `olderThan` (ms epoch) and has not finished; their start time is reset. */
  async claimStalePending(olderThan: number, limit: number): Promise<StartedCheckout[]> {
    const orderIds = await this.redis.zrangebyscore(PENDING, 0, olderThan, 'LIMIT', 0, limit)
    const stale: StartedCheckout[] = []
    for (const orderId of orderIds) {
      const [sagaId, userId, items, total] = await this.redis.hmget(key(orderId), 'checkout', 'user_id', 'items', 'total')
      if (!sagaId) {
        await this.redis.zrem(PENDING, orderId)
        continue
      }
      await this.redis.zadd(PENDING, 'XX', Date.now(), orderId)
      stale.push({ orderId, sagaId, userId: userId ?? '', items: decodeLines(items ?? ''), total: Number(total) })
    }
    return stale
  }

  /** Overwrites orders "0".."n-1": each two random items (qty 1) of the first nItems, a random user. */
  async batchInit(n: number, nItems: number, nUsers: number, itemPrice: number): Promise<void> {
    const pick = (bound: number) => String(Math.floor(Math.random() * bound))
    for (let start = 0; start < n; start += BATCH_CHUNK) {
      const pipeline = this.redis.pipeline()
      for (let i = start; i < Math.min(n, start + BATCH_CHUNK); i++) {
        const lines: Line[] = [
          [pick(nItems), 1],
          [pick(nItems), 1],
        ]
        pipeline.del(key(String(i)))
        pipeline.hset(key(String(i)), 'user_id', pick(nUsers), 'paid', '0', 'total', String(2 * itemPrice), 'items', encodeLines(lines))
      }
      await execPipeline(pipeline)
    }
  }
}

function key(orderId: string): string {
  return `order:${orderId}`
}

function outcomeKey(sagaId: string): string {
  return `checkout:${sagaId}`
}
