// The only file that knows the order service's Redis keys:
//   order:<id>            hash {user_id, paid, total, items}, and while a checkout saga runs
//                         {checkout (its id), phase, step, reason, origin (the replica whose request waits)}
//   checkout:<saga id>    the saga's outcome, once known
//   checkouts:pending     sorted set of orders with a running saga, by its last move (for the sweeper)
import { AppError, errorFromScript, scriptValue } from '../../platform/errors.js'
import { httpRecord } from '../../platform/idempotency.js'
import type { Config } from '../../platform/config.js'
import type { Line } from '../../platform/messages.js'
import { metrics } from '../../platform/metrics.js'
import { execPipeline, loadScript, platformScriptsDir, type Redis, type Script } from '../../platform/redis.js'
import type { Position } from '../../platform/saga.js'
import type { CheckoutData } from './checkout-saga.js'
import { decodeLines, encodeLines, type Outcome } from './domain.js'

const scriptsDir = new URL('./scripts/', import.meta.url)
const PENDING = 'checkouts:pending'
const BATCH_CHUNK = 5000

export interface Order {
  order_id: string
  paid: boolean
  items: Line[]
  user_id: string
  total_cost: number
}

export type CheckoutStart = ({ kind: 'start' } & CheckoutData) | { kind: 'join'; sagaId: string }

/** A running checkout saga as persisted on its order. */
export interface RunningCheckout {
  data: CheckoutData
  position: Position
  /** The replica whose HTTP request waits for the outcome. */
  origin: string
}

/** What finishing a saga found: it finished now, it had finished before, or it is not where the caller saw it. */
export type Finish = { kind: 'done'; origin: string } | { kind: 'replay'; outcome: Outcome } | { kind: 'stale' }

export class OrderStore {
  readonly #scripts: Record<'create' | 'addItem' | 'begin' | 'advance' | 'finish', Script>
  readonly #ttl: number

  constructor(
    readonly redis: Redis,
    config: Config,
  ) {
    this.#ttl = config.idempotencyTtlSeconds
    this.#scripts = {
      create: loadScript(redis, platformScriptsDir, 'create-entity'),
      addItem: loadScript(redis, scriptsDir, 'add-item'),
      begin: loadScript(redis, scriptsDir, 'begin-checkout'),
      advance: loadScript(redis, scriptsDir, 'advance-checkout'),
      finish: loadScript(redis, scriptsDir, 'finish-checkout'),
    }
  }

  async create(orderId: string, userId: string, idempotencyKey: string | undefined): Promise<string> {
    const fields = ['user_id', userId, 'paid', '0', 'total', '0', 'items', '']
    const reply = String(await this.#scripts.create([key(orderId), httpRecord(idempotencyKey, 'create-order')], [this.#ttl, orderId, ...fields]))
    return scriptValue(reply, `order ${orderId}`)
  }

  async find(orderId: string): Promise<Order> {
    const hash = await this.redis.hgetall(key(orderId))
    if (!hash.user_id) throw new AppError('NOT_FOUND', `order ${orderId} not found`)
    return { order_id: orderId, paid: hash.paid === '1', items: decodeLines(hash.items), user_id: hash.user_id, total_cost: Number(hash.total) }
  }

  async addItem(orderId: string, itemId: string, quantity: number, price: number, idempotencyKey: string | undefined): Promise<number> {
    const reply = String(await this.#scripts.addItem([key(orderId), httpRecord(idempotencyKey, 'add-item')], [itemId, quantity, price, this.#ttl]))
    return Number(scriptValue(reply, `order ${orderId}`))
  }

  /** Starts the order's checkout saga at `firstStep`, or joins the one this idempotency key started. */
  async beginCheckout(orderId: string, sagaId: string, idempotencyKey: string | undefined, firstStep: string, origin: string): Promise<CheckoutStart> {
    const keys = [key(orderId), httpRecord(idempotencyKey, 'checkout'), PENDING]
    const reply = (await this.#scripts.begin(keys, [sagaId, Date.now(), this.#ttl, orderId, firstStep, origin])) as string[]
    const [status, id, userId, items, total] = reply
    const error = errorFromScript(status!, `order ${orderId}`)
    if (error) throw error
    if (status === 'JOIN') {
      metrics.idempotentReplays.inc({ operation: 'checkout' })
      return { kind: 'join', sagaId: id! }
    }
    return { kind: 'start', orderId, sagaId: id!, userId: userId!, items: decodeLines(items), total: Number(total) }
  }

  /** Moves the saga from `from` to `to` (not done), guarded: false when it was no longer at `from`. */
  async advanceCheckout(data: CheckoutData, from: Position, to: Position & { step: string }): Promise<boolean> {
    const args = [data.sagaId, from.phase, stepOf(from), to.phase, to.step, to.reason ?? '', Date.now(), data.orderId]
    return (await this.#scripts.advance([key(data.orderId), PENDING], args)) === 1
  }

  /** Ends the saga from `from` with its outcome, guarded like advanceCheckout. */
  async finishCheckout(data: CheckoutData, from: Position, outcome: Outcome): Promise<Finish> {
    const keys = [key(data.orderId), outcomeKey(data.sagaId), PENDING]
    const [status, value] = (await this.#scripts.finish(keys, [data.sagaId, from.phase, stepOf(from), outcome, this.#ttl, data.orderId])) as string[]
    if (status === 'DONE') return { kind: 'done', origin: value ?? '' }
    if (status === 'REPLAY') return { kind: 'replay', outcome: value! }
    return { kind: 'stale' }
  }

  /** The order's running checkout saga, if it has one (and it is `sagaId`, when given). */
  async runningCheckout(orderId: string, sagaId?: string): Promise<RunningCheckout | undefined> {
    const [checkout, phase, step, reason, origin, userId, items, total] = await this.redis.hmget(key(orderId), 'checkout', 'phase', 'step', 'reason', 'origin', 'user_id', 'items', 'total')
    if (!checkout || !step || (sagaId !== undefined && checkout !== sagaId) || (phase !== 'forward' && phase !== 'compensating')) return undefined
    return {
      data: { sagaId: checkout, orderId, userId: userId ?? '', items: decodeLines(items ?? ''), total: Number(total) },
      position: { phase, step, ...(reason ? { reason } : {}) },
      origin: origin ?? '',
    }
  }

  /** Whether the order runs saga `sagaId` or has its outcome: false only for a saga lost (or expired). */
  async knowsSaga(orderId: string, sagaId: string): Promise<boolean> {
    // The saga's outcome is written in the same script that takes it off the order, so reading the
    // order first cannot miss a saga that finishes between the two reads.
    const [running, outcome] = await Promise.all([this.redis.hget(key(orderId), 'checkout'), this.redis.get(outcomeKey(sagaId))])
    return running === sagaId || outcome !== null
  }

  async outcomes(sagaIds: string[]): Promise<(Outcome | null)[]> {
    return sagaIds.length === 0 ? [] : this.redis.mget(sagaIds.map(outcomeKey))
  }

  /** Orders whose saga has not moved since `olderThan` (ms epoch); their clock is reset, so one sweep claims them. */
  async claimStalePending(olderThan: number, limit: number): Promise<string[]> {
    const orderIds = await this.redis.zrangebyscore(PENDING, 0, olderThan, 'LIMIT', 0, limit)
    if (orderIds.length > 0) await this.redis.zadd(PENDING, 'XX', ...orderIds.flatMap((id) => [Date.now(), id]))
    return orderIds
  }

  /** Drops an order from the pending set once it has no running saga (a finished one left behind). */
  async forgetPending(orderId: string): Promise<void> {
    await this.redis.zrem(PENDING, orderId)
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

/** The step a running saga is at ('' once done, which no running saga matches). */
function stepOf(position: Position): string {
  return position.phase === 'done' ? '' : position.step
}
