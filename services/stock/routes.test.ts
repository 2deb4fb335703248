// The stock routes on a bare Fastify app, driven with inject() (no socket, no Redis): what reaches the
// store, and what never does.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createHttpApp } from '../../platform/http.js'
import { createLogger } from '../../platform/logger.js'
import { stockRoutes } from './routes.js'
import type { StockStore } from './store.js'

function appWithRecordingStore() {
  const calls: { id: string; delta: number; idempotencyKey: string | undefined; operation: string }[] = []
  const store = {
    adjust: async (id: string, delta: number, idempotencyKey: string | undefined, operation: string) => {
      calls.push({ id, delta, idempotencyKey, operation })
      return 10 + delta
    },
  } as unknown as StockStore
  const app = createHttpApp(createLogger('stock', 'routes-test', 'silent'))
  stockRoutes(app, store)
  return { app, calls }
}

test('bad input is a 400 BAD_INPUT that never reaches the store', async () => {
  const { app, calls } = appWithRecordingStore()
  for (const url of ['/stock/add/a%20b/1', '/stock/add/x/-1', '/stock/add/x/1.5', '/stock/subtract/x/9007199254740992', `/stock/add/${'a'.repeat(129)}/1`]) {
    const response = await app.inject({ method: 'POST', url })
    assert.equal(response.statusCode, 400, url)
    assert.equal(response.json().code, 'BAD_INPUT', url)
    assert.match(response.headers['content-type'] as string, /^application\/json/)
  }
  const overlong = await app.inject({ method: 'POST', url: '/stock/add/x/1', headers: { 'idempotency-key': 'k'.repeat(201) } })
  assert.equal(overlong.statusCode, 400)
  assert.deepEqual(calls, [])
})

test('an idempotency key names one request: the same key on another path is another request', async () => {
  const { app, calls } = appWithRecordingStore()
  const add = (url: string, key: string) => app.inject({ method: 'POST', url, headers: { 'idempotency-key': key } })
  assert.deepEqual((await add('/stock/add/x/5', 'k')).json(), { item_id: 'x', stock: 15 })
  await add('/stock/add/x/5', 'k')
  await add('/stock/add/y/5', 'k')
  await add('/stock/add/x/6', 'k')
  const [first, retry, otherItem, otherAmount] = calls.map((c) => c.idempotencyKey)
  assert.equal(retry, first, 'a retry carries the same scoped key')
  assert.notEqual(otherItem, first)
  assert.notEqual(otherAmount, first)
  assert.deepEqual(calls.map((c) => [c.id, c.delta, c.operation]), [['x', 5, 'add-stock'], ['x', 5, 'add-stock'], ['y', 5, 'add-stock'], ['x', 6, 'add-stock']])
})

test('without a key the gateway request id is the key; without either there is none', async () => {
  const { app, calls } = appWithRecordingStore()
  await app.inject({ method: 'POST', url: '/stock/subtract/x/1', headers: { 'x-request-id': 'r1' } })
  await app.inject({ method: 'POST', url: '/stock/subtract/x/1' })
  assert.equal(calls[0]!.idempotencyKey, '/stock/subtract/x/1 r1')
  assert.equal(calls[1]!.idempotencyKey, undefined)
})
