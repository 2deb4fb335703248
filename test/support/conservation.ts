// The consistency workload of the WDM benchmark, and the conservation checks of SPEC.md.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { inParallel, type CheckoutApi } from '../../tools/client/api.js'

export interface ConsistencyWorld {
  itemId: string
  orders: { orderId: string; userId: string }[]
}

/** One item with `stock` units (price 1), `users` users with 1 credit each, one 1-unit order each. */
export async function populate(api: CheckoutApi, stock: number, users: number): Promise<ConsistencyWorld> {
  const itemId = await api.createItem(1)
  await api.addStock(itemId, stock)
  const orders = await inParallel(Array.from({ length: users }), 50, async () => {
    const userId = await api.createUser()
    await api.addFunds(userId, 1)
    const orderId = await api.createOrder(userId)
    await api.addItem(orderId, itemId, 1)
    return { orderId, userId }
  })
  return { itemId, orders }
}

export interface CheckoutTally {
  ok: number
  refused: number
  failed: number
  statuses: number[]
}

/**
 * Checks out every order, `concurrency` at a time. A reset connection rejects, unless `retryUntilDefinite`:
 * then a checkout cut off (reset, 5xx) is retried with its Idempotency-Key until it gets a 2xx or 4xx.
 */
export async function checkoutAll(api: CheckoutApi, world: ConsistencyWorld, concurrency: number, { retryUntilDefinite = false } = {}): Promise<CheckoutTally> {
  const once = async (orderId: string) => (await api.checkout(orderId)).status
  return tally(await inParallel(world.orders, concurrency, ({ orderId }) => (retryUntilDefinite ? checkoutUntilDefinite(api, orderId) : once(orderId))))
}

const RETRY_DELAY_MS = 250
const MAX_ATTEMPTS = 240

/** Retries a checkout with one Idempotency-Key until its answer is definite (2xx or 4xx); its final status. */
async function checkoutUntilDefinite(api: CheckoutApi, orderId: string): Promise<number> {
  const key = randomUUID()
  for (let attempt = 1; ; attempt++) {
    const status = await api.checkout(orderId, key).then((r) => r.status, () => 0)
    if ((status >= 200 && status < 500) || attempt >= MAX_ATTEMPTS) return status
    await sleep(RETRY_DELAY_MS)
  }
}

/**
 * Checks out the world's orders one after another at a steady rate (each starts on schedule whatever
 * the earlier ones do, none retried) until `stop` is aborted or the orders run out. A transport
 * failure counts as status 0. The tally covers the orders sent, in order.
 */
export async function checkoutPaced(api: CheckoutApi, world: ConsistencyWorld, perSecond: number, stop: AbortSignal): Promise<CheckoutTally> {
  const started = performance.now()
  const pending: Promise<number>[] = []
  for (const { orderId } of world.orders) {
    if (stop.aborted) break
    pending.push(api.checkout(orderId).then((r) => r.status, () => 0))
    const due = started + (pending.length * 1000) / perSecond
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())))
  }
  return tally(await Promise.all(pending))
}

function tally(statuses: number[]): CheckoutTally {
  return {
    ok: statuses.filter((s) => s >= 200 && s < 300).length,
    refused: statuses.filter((s) => s >= 400 && s < 500).length,
    failed: statuses.filter((s) => s >= 500 || s < 200).length,
    statuses,
  }
}

export interface Conservation {
  stockLeft: number
  creditLeft: number
  paidOrders: number
  /** Orders answered 2xx that are not paid, or paid but not answered 2xx. */
  mismatched: string[]
}

/** Reads back every order, the item and every user after a consistency run (orders past `statuses` were never checked out). */
export async function readBack(api: CheckoutApi, world: ConsistencyWorld, statuses: number[]): Promise<Conservation> {
  const { stock } = await api.findItem(world.itemId)
  const rows = await inParallel(world.orders, 50, async ({ orderId, userId }) => ({
    order: await api.findOrder(orderId),
    credit: (await api.findUser(userId)).credit,
  }))
  const mismatched = rows.filter(({ order }, i) => order.paid !== (statuses[i]! >= 200 && statuses[i]! < 300)).map(({ order }) => order.order_id)
  return {
    stockLeft: stock,
    creditLeft: rows.reduce((sum, r) => sum + r.credit, 0),
    paidOrders: rows.filter((r) => r.order.paid).length,
    mismatched,
  }
}

/** Every checkout answered 2xx or 4xx (none 5xx), as many 2xx as there was stock, and nothing lost. */
export async function assertExactlyStockSold(api: CheckoutApi, world: ConsistencyWorld, tally: CheckoutTally, stock: number): Promise<void> {
  const users = world.orders.length
  assert.deepEqual({ ok: tally.ok, refused: tally.refused, failed: tally.failed }, { ok: stock, refused: users - stock, failed: 0 })
  await assertConserved(api, world, tally, stock)
}

/** Stock and credit left are what the 2xx answers say was taken, and exactly the 2xx orders are paid. */
export async function assertConserved(api: CheckoutApi, world: ConsistencyWorld, tally: CheckoutTally, stock: number): Promise<void> {
  const after = await readBack(api, world, tally.statuses)
  assert.equal(after.stockLeft, stock - tally.ok)
  assert.equal(after.creditLeft, world.orders.length - tally.ok)
  assert.equal(after.paidOrders, tally.ok)
  assert.deepEqual(after.mismatched, [], 'every 2xx order is paid, every other one is not')
}
