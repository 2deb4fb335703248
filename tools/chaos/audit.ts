// After the run: the conservation guarantees of SPEC.md, checked on everything the workload did.
import { inParallel, type CheckoutApi } from '../client/api.js'
import type { CheckoutRecord, Shop } from './workload.js'

export interface Violation {
  kind: 'stock' | 'credit' | 'outcome'
  id: string
  detail: string
  /** When the checkout involved started (outcome violations), to attribute it to a fault. */
  at?: number
}

export async function audit(api: CheckoutApi, shop: Shop, checkouts: CheckoutRecord[]): Promise<Violation[]> {
  const violations: Violation[] = []
  const orders = await inParallel(checkouts, 20, async (c) => ({ record: c, order: await api.findOrder(c.orderId) }))
  const sold = new Map<string, number>()
  const spent = new Map<string, number>()
  for (const { record, order } of orders) {
    const final = record.attempts.at(-1)!
    const answeredPaid = final >= 200 && final < 300
    if (order.paid !== answeredPaid) {
      violations.push({ kind: 'outcome', id: record.orderId, at: record.startedAt, detail: `answered ${record.attempts.join('→')} but paid=${order.paid}` })
    }
    if (!order.paid) continue
    for (const [itemId, qty] of order.items) sold.set(itemId, (sold.get(itemId) ?? 0) + qty)
    spent.set(order.user_id, (spent.get(order.user_id) ?? 0) + order.total_cost)
  }
  await inParallel(shop.items, 20, async (item) => {
    const { stock } = await api.findItem(item.id)
    const expected = item.initial + item.added - (sold.get(item.id) ?? 0)
    if (stock !== expected) violations.push({ kind: 'stock', id: item.id, detail: `stock ${stock}, expected ${expected} (initial ${item.initial} + added ${item.added} - sold ${sold.get(item.id) ?? 0})` })
  })
  await inParallel(shop.users, 20, async (user) => {
    const { credit } = await api.findUser(user.id)
    const expected = user.initial + user.added - (spent.get(user.id) ?? 0)
    if (credit !== expected) violations.push({ kind: 'credit', id: user.id, detail: `credit ${credit}, expected ${expected} (initial ${user.initial} + added ${user.added} - paid ${spent.get(user.id) ?? 0})` })
  })
  return violations
}
