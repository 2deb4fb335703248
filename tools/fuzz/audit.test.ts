import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CheckoutApi } from '../client/api.js'
import { ShopModel, type Exchange } from './audit.js'

const post = (path: string, status: number, body: unknown, idempotencyKey?: string): Exchange => ({ method: 'POST', path, status, body, idempotencyKey })

/** A shop whose state is whatever `state` says, answering find requests only. */
function shopSaying(state: Record<string, unknown>): CheckoutApi {
  return { request: async (_method: string, path: string) => ({ status: 200, body: state[path] ?? {} }) } as unknown as CheckoutApi
}

function sampleRun(): ShopModel {
  const model = new ShopModel()
  for (const exchange of [
    post('/stock/item/create/7', 200, { item_id: 'i1' }),
    post('/stock/add/i1/10', 200, { item_id: 'i1', stock: 10 }, 'k1'),
    post('/stock/add/i1/10', 200, { item_id: 'i1', stock: 10 }, 'k1'), // a replay: no second effect
    post('/stock/subtract/i1/50', 409, { error: 'out of stock', code: 'OUT_OF_STOCK' }),
    post('/payment/create_user', 200, { user_id: 'u1' }),
    post('/payment/add_funds/u1/100', 200, { user_id: 'u1', credit: 100 }),
    post('/orders/create/u1', 200, { order_id: 'o1' }),
    post('/orders/addItem/o1/i1/3', 200, { order_id: 'o1', total_cost: 21 }),
    post('/orders/checkout/o1', 200, { order_id: 'o1', paid: true }),
    post('/orders/checkout/o1', 409, { error: 'paid', code: 'ALREADY_PAID' }),
  ]) {
    model.apply(exchange)
  }
  return model
}

test('the model applies 2xx answers once per idempotency key and ignores refusals', async () => {
  const model = sampleRun()
  assert.deepEqual(model.items.get('i1'), { stock: 7, price: 7 })
  assert.equal(model.users.get('u1'), 79)
  assert.equal(model.orders.get('o1')?.paid, true)
  await model.compareWith(
    shopSaying({
      '/stock/find/i1': { stock: 7, price: 7 },
      '/payment/find_user/u1': { credit: 79 },
      '/orders/find/o1': { paid: true, total_cost: 21 },
    }),
  )
  assert.deepEqual(model.result().mismatches, [])
  assert.equal(model.result().effects.get('stock/add'), 1)
})

test('a 2xx answer stating another value, and a final state the answers do not explain, are mismatches', async () => {
  const model = sampleRun()
  model.apply(post('/stock/add/i1/1', 200, { item_id: 'i1', stock: 9 }))
  assert.deepEqual(model.mismatches, ['POST /stock/add/i1/1: stock 9, expected 8'])
  // A refused subtract that took stock anyway:
  await model.compareWith(shopSaying({ '/stock/find/i1': { stock: 3, price: 7 }, '/payment/find_user/u1': { credit: 79 }, '/orders/find/o1': { paid: true, total_cost: 21 } }))
  assert.equal(model.mismatches.length, 2)
  assert.match(model.mismatches[1]!, /^item i1: is \{"stock":3,"price":7\}, the 2xx answers say \{"stock":8,"price":7\}$/)
})
