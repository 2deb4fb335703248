// The properties users care about, on a real cluster: no money or stock created or lost under
// contention, a failed step compensated, and sagas finished after the replica running them was killed.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { useCluster } from '../support/cluster.js'
import { assertExactlyStockSold, checkoutAll, populate } from '../support/conservation.js'

const env = useCluster()

test('1000 concurrent checkouts of an item with 100 in stock: exactly 100 succeed, nothing lost', async () => {
  const world = await populate(env.api, 100, 1000)
  await assertExactlyStockSold(env.api, world, await checkoutAll(env.api, world, 100), 100)
})

test('a refused payment returns the reserved stock', async () => {
  const { api } = env
  const item = await api.createItem(10)
  await api.addStock(item, 5)
  const user = await api.createUser()
  await api.addFunds(user, 25)
  const order = await api.createOrder(user)
  await api.addItem(order, item, 3)
  const response = await api.checkout(order)
  assert.equal(response.status, 409)
  assert.match(String(response.body.error), /INSUFFICIENT_CREDIT/)
  assert.equal((await api.findItem(item)).stock, 5)
  assert.equal((await api.findUser(user)).credit, 25)
  assert.equal((await api.findOrder(order)).paid, false)
})

test('sagas caught by a crash of the order replica running them are finished after its restart', async () => {
  const { api, cluster } = env
  const world = await populate(api, 30, 60)
  // The stock service frozen: every saga waits at reserve-stock when the replica running them dies.
  // Each client retries with its Idempotency-Key until it gets a definite answer: the requests the
  // crash cut off get the outcome of the saga they started, which the restarted replica finishes.
  cluster.pause('stock-1')
  const running = checkoutAll(api, world, 60, { retryUntilDefinite: true })
  await sleep(1000)
  cluster.kill('order-1', 'SIGKILL')
  cluster.resume('stock-1')
  const tally = await running
  await cluster.waitReady('order-1')
  await assertExactlyStockSold(env.api, world, tally, 30)
  assert.equal(cluster.processes.find((p) => p.name === 'order-1')?.restarts, 1, 'the order replica was restarted once')
})

test('the only Kafka broker killed mid-run: services ride it out and every checkout gets its true outcome', async () => {
  const { api, cluster } = env
  const world = await populate(api, 40, 80)
  const services = ['order-1', 'stock-1', 'payment-1']
  const restarts = () => services.map((name) => cluster.processes.find((p) => p.name === name)?.restarts)
  const restartsBefore = restarts()
  const running = checkoutAll(api, world, 20)
  await sleep(200)
  cluster.kill('kafka-1', 'SIGKILL')
  await assertExactlyStockSold(env.api, world, await running, 40)
  assert.deepEqual(restarts(), restartsBefore, 'no service process had to be restarted')
})
