// The HTTP contract (docs/openapi.yaml) through the real gateway: shapes, status codes, bad input
// changing nothing, idempotency keys, batch_init, refusal past capacity — and the WDM template's own
// test scenarios.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { startService } from '../../platform/service.js'
import { orderService } from '../../services/order/app.js'
import { CheckoutApi } from '../../tools/client/api.js'
import { useCluster } from '../support/cluster.js'

const env = useCluster()

describe('stock', () => {
  test('create, find, add, subtract; over-subtracting is a 4xx that changes nothing', async () => {
    const { api } = env
    const item = await api.createItem(5)
    assert.deepEqual(await api.findItem(item), { stock: 0, price: 5 })
    assert.equal(await api.addStock(item, 50), 50)
    const over = await api.post(`/stock/subtract/${item}/200`)
    assert.equal(over.status, 409)
    assert.equal(typeof over.body.error, 'string')
    assert.equal((await api.post(`/stock/subtract/${item}/15`)).body.stock, 35)
    assert.equal((await api.findItem(item)).stock, 35)
  })
})

describe('payment', () => {
  test('create, add funds, pay; over-paying is a 4xx that changes nothing', async () => {
    const { api } = env
    const user = await api.createUser()
    assert.deepEqual(await api.findUser(user), { user_id: user, credit: 0 })
    assert.equal(await api.addFunds(user, 15), 15)
    assert.equal((await api.post(`/payment/pay/${user}/20`)).status, 409)
    assert.equal((await api.post(`/payment/pay/${user}/10`)).body.credit, 5)
    assert.equal((await api.findUser(user)).credit, 5)
  })
})

describe('orders and checkout (the WDM template scenario)', () => {
  test('a checkout fails while an item is short, then succeeds once stock and credit are there', async () => {
    const { api } = env
    const user = await api.createUser()
    const order = await api.createOrder(user)
    const item1 = await api.createItem(5)
    await api.addStock(item1, 15)
    const item2 = await api.createItem(5)
    await api.addStock(item2, 1)
    assert.equal(await api.addItem(order, item1, 1), 5)
    assert.equal(await api.addItem(order, item2, 1), 10)
    assert.equal((await api.post(`/stock/subtract/${item2}/1`)).status, 200)

    const short = await api.checkout(order)
    assert.equal(short.status, 409, JSON.stringify(short.body))
    assert.equal((await api.findItem(item1)).stock, 15, 'no stock taken by a failed checkout')

    await api.addStock(item2, 15)
    const noCredit = await api.checkout(order)
    assert.equal(noCredit.status, 409)
    assert.match(String(noCredit.body.error), /INSUFFICIENT_CREDIT/)
    assert.equal((await api.findItem(item1)).stock, 15, 'stock returned after the payment was refused')
    assert.equal((await api.findItem(item2)).stock, 15)

    await api.addFunds(user, 15)
    const paid = await api.checkout(order)
    assert.equal(paid.status, 200)
    assert.deepEqual(paid.body, { order_id: order, paid: true })
    assert.equal((await api.findItem(item1)).stock, 14)
    assert.equal((await api.findItem(item2)).stock, 14)
    assert.equal((await api.findUser(user)).credit, 5)
    assert.deepEqual(await api.findOrder(order), { order_id: order, paid: true, items: [[item1, 1], [item2, 1]], user_id: user, total_cost: 10 })

    const again = await api.checkout(order)
    assert.equal(again.status, 409, 'a paid order is never charged again')
    assert.equal((await api.findUser(user)).credit, 5)
    assert.equal((await api.post(`/orders/addItem/${order}/${item1}/1`)).status, 409, 'a paid order takes no more items')
  })

  test('adding the same item twice merges the line', async () => {
    const { api } = env
    const order = await api.createOrder(await api.createUser())
    const item = await api.createItem(3)
    await api.addItem(order, item, 1)
    assert.equal(await api.addItem(order, item, 2), 9)
    assert.deepEqual((await api.findOrder(order)).items, [[item, 3]])
  })
})

describe('idempotency keys', () => {
  test('a repeated key gets the first answer and is applied once', async () => {
    const { api } = env
    const user = await api.createUser()
    const key = { 'idempotency-key': `funds-${user}` }
    assert.equal((await api.post(`/payment/add_funds/${user}/10`, key)).body.credit, 10)
    assert.equal((await api.post(`/payment/add_funds/${user}/10`, key)).body.credit, 10)
    assert.equal((await api.findUser(user)).credit, 10)

    const item = await api.createItem(10)
    await api.addStock(item, 1)
    const order = await api.createOrder(user)
    await api.addItem(order, item, 1)
    const checkoutKey = `checkout-${order}`
    const [first, second] = await Promise.all([api.checkout(order, checkoutKey), api.checkout(order, checkoutKey)])
    assert.equal(first.status, 200)
    assert.deepEqual(second, first, 'the retried checkout gets the outcome of the first')
    assert.equal((await api.checkout(order, checkoutKey)).status, 200, 'a later retry still gets it')
    assert.equal((await api.findUser(user)).credit, 0, 'charged once')
    assert.equal((await api.findItem(item)).stock, 0)
  })
})

describe('bad input gets a clear 4xx, JSON, and changes nothing', () => {
  test('numbers, ids, methods, paths', async () => {
    const { api } = env
    const item = await api.createItem(1)
    await api.addStock(item, 7)
    const user = await api.createUser()
    await api.addFunds(user, 7)
    const order = await api.createOrder(user)
    const cases: [string, string, number][] = [
      ['POST', `/stock/add/${item}/-5`, 400],
      ['POST', `/stock/add/${item}/abc`, 400],
      ['POST', `/stock/add/${item}/1.5`, 400],
      ['POST', `/stock/add/${item}/99999999999999999999`, 400],
      ['POST', `/stock/add/${item}/9007199254740991`, 422],
      ['POST', `/stock/subtract/${item}/-1`, 400],
      ['POST', '/stock/add/no-such-item/1', 404],
      ['GET', '/stock/find/no-such-item', 404],
      ['POST', '/stock/item/create/-1', 400],
      ['GET', `/stock/add/${item}/1`, 405],
      ['DELETE', `/stock/find/${item}`, 405],
      ['POST', `/payment/add_funds/${user}/-3`, 400],
      ['POST', `/payment/pay/${user}/x`, 400],
      ['POST', '/payment/pay/nobody/1', 404],
      ['GET', '/payment/find_user/nobody', 404],
      ['POST', '/orders/create/bad;id', 400],
      ['GET', '/orders/find/no-such-order', 404],
      ['POST', `/orders/addItem/${order}/no-such-item/1`, 404],
      ['POST', `/orders/addItem/no-such-order/${item}/1`, 404],
      ['POST', `/orders/addItem/${order}/${item}/0`, 400],
      ['POST', `/orders/addItem/${order}/${item}/-1`, 400],
      ['POST', '/orders/checkout/no-such-order', 404],
      ['GET', `/orders/checkout/${order}`, 405],
      ['POST', '/orders/batch_init/10/0/0/1', 400],
      ['POST', '/stock/batch_init/2000000/1/1', 400],
      ['GET', '/nowhere', 404],
      ['GET', `/stock/find/${'x'.repeat(20_000)}`, 414],
    ]
    for (const [method, path, status] of cases) {
      const response = await api.request(method, path)
      assert.equal(response.status, status, `${method} ${path.slice(0, 80)} → ${JSON.stringify(response.body)}`)
      assert.match(response.contentType ?? '', /application\/json/, `${method} ${path.slice(0, 80)} content type`)
      assert.equal(typeof (response.body as { error?: unknown }).error, 'string', `${method} ${path.slice(0, 80)} has an error message`)
    }
    assert.deepEqual(await api.findItem(item), { stock: 7, price: 1 })
    assert.equal((await api.findUser(user)).credit, 7)
    assert.deepEqual((await api.findOrder(order)).items, [])
  })
})

describe('batch_init', () => {
  test('100k users, items and orders, overwriting earlier data', async () => {
    const { api } = env
    assert.equal((await api.post('/payment/batch_init/100000/1000000')).status, 200)
    assert.equal((await api.post('/stock/batch_init/100000/1000000/1')).status, 200)
    assert.equal((await api.post('/orders/batch_init/100000/100000/100000/1')).status, 200)
    assert.deepEqual(await api.findUser('99999'), { user_id: '99999', credit: 1_000_000 })
    assert.deepEqual(await api.findItem('99999'), { stock: 1_000_000, price: 1 })
    const order = await api.findOrder('99999')
    assert.equal(order.paid, false)
    assert.equal(order.total_cost, 2)
    assert.equal(order.items.length, 2)
    for (const [itemId, qty] of order.items) {
      assert.ok(Number(itemId) >= 0 && Number(itemId) < 100_000)
      assert.equal(qty, 1)
    }
    const checkout = await api.checkout('99999')
    assert.equal(checkout.status, 200, JSON.stringify(checkout.body))
    assert.equal((await api.findUser(order.user_id)).credit, 999_998)

    await api.post('/payment/batch_init/10/5')
    assert.equal((await api.findUser('3')).credit, 5, 'batch_init overwrites')
  })
})

describe('edge cases', () => {
  test('a POST with any content type and any (ignored) body works, as aiohttp in the WDM benchmark sends it', async () => {
    const { api } = env
    for (const [contentType, body] of [['application/octet-stream', ''], ['application/json', ''], ['application/json', '{not json'], ['text/plain', 'x']]) {
      const response = await api.request('POST', '/stock/item/create/3', { 'content-type': contentType!, 'content-length': String(body!.length) }, 10_000, body)
      assert.equal(response.status, 200, `${contentType} ${JSON.stringify(body)} → ${JSON.stringify(response.body)}`)
      assert.equal(typeof response.body.item_id, 'string')
    }
  })

  test('an order with no items checks out for 0 and is paid (a zero charge used to poison the payment partition)', async () => {
    const { api } = env
    const user = await api.createUser()
    const order = await api.createOrder(user)
    const response = await api.checkout(order)
    assert.equal(response.status, 200, JSON.stringify(response.body))
    assert.equal((await api.findOrder(order)).paid, true)
    assert.equal((await api.findUser(user)).credit, 0)
  })

  test('a checkout of an order whose user does not exist is refused and returns the stock', async () => {
    const { api } = env
    const item = await api.createItem(1)
    await api.addStock(item, 2)
    const order = await api.createOrder('no-such-user')
    await api.addItem(order, item, 2)
    const response = await api.checkout(order)
    assert.equal(response.status, 404, JSON.stringify(response.body))
    assert.equal((await api.findItem(item)).stock, 2)
  })
})

describe('the contract', () => {
  test('the gateway serves docs/openapi.yaml as JSON at /openapi.json', async () => {
    const response = await env.api.get<{ openapi: string; paths: Record<string, unknown> }>('/openapi.json')
    assert.equal(response.status, 200)
    assert.equal(response.contentType, 'application/json')
    assert.equal(response.body.openapi, '3.1.0')
    assert.ok('/orders/checkout/{order_id}' in response.body.paths)
  })
})

describe('overload', () => {
  test('an order replica past its checkouts in flight answers 429 with Retry-After, changing nothing; the same key succeeds later', async () => {
    const { api, cluster } = env
    // A replica of its own with room for one checkout, reached directly (the gateway has its own limit).
    const replica = await startService(orderService, { ...cluster.serviceEnv('order', 9), INSTANCE_ID: 'order-overload-test', HTTP_PORT: '0', MAX_CHECKOUTS_IN_FLIGHT: '1' })
    const direct = new CheckoutApi(`http://127.0.0.1:${replica.port}`)
    const redis = new Redis(cluster.redis.order.url!)
    try {
      const item = await api.createItem(1)
      await api.addStock(item, 2)
      const orders: string[] = []
      for (let i = 0; i < 2; i++) {
        const user = await api.createUser()
        await api.addFunds(user, 1)
        const order = await api.createOrder(user)
        await api.addItem(order, item, 1)
        orders.push(order)
      }
      cluster.pause('stock-1') // the first checkout stays in flight
      const first = direct.checkout(orders[0]!)
      await sleep(300)
      const refused = await direct.checkout(orders[1]!, 'overload-key')
      assert.equal(refused.status, 429)
      assert.equal(refused.body.code, 'OVERLOADED')
      assert.equal(refused.headers['retry-after'], '1')
      assert.equal(await redis.hget(`order:${orders[1]}`, 'checkout'), null, 'no saga started for the refused checkout')
      cluster.resume('stock-1')
      assert.equal((await first).status, 200)
      assert.equal((await api.checkout(orders[1]!, 'overload-key')).status, 200)
      assert.equal((await api.findItem(item)).stock, 0)
    } finally {
      cluster.resume('stock-1')
      direct.close()
      redis.disconnect()
      await replica.stop()
    }
  })
})
