// Poison messages do not block a partition: a message that is malformed, or that fails by its own fault
// every time, is set aside on the dead-letter topic with its error, the messages behind it flow on, and
// the checkout it belonged to ends refused (422 NOT_PROCESSED) with nothing taken.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { Producer, stringSerializers } from '@platformatic/kafka'
import { Redis } from 'ioredis'
import { Topics } from '../../platform/messages.js'
import { readDeadLetters, type DeadLetter } from '../../tools/cluster/dead-letters.js'
import { waitUntil } from '../../tools/cluster/probes.js'
import { useCluster } from '../support/cluster.js'

const env = useCluster()

async function produce(messages: { topic: string; key: string; value: string; partition?: number }[]): Promise<void> {
  const producer = new Producer({ clientId: 'poison-test', bootstrapBrokers: env.cluster.kafkaBrokers, serializers: stringSerializers, idempotent: true, acks: -1 })
  try {
    await producer.send({ messages })
  } finally {
    await producer.close()
  }
}

async function deadLettersWhere(match: (letter: DeadLetter) => boolean, count: number): Promise<DeadLetter[]> {
  let found: DeadLetter[] = []
  await waitUntil(`${count} dead letters`, async () => (found = (await readDeadLetters(env.cluster.kafkaBrokers, undefined, 1000)).filter(match)).length >= count, 60_000, 500)
  return found
}

/** An order of one unit of each item, for a user with `credit`. */
async function orderOf(items: string[], credit: number): Promise<{ orderId: string; userId: string }> {
  const { api } = env
  const userId = await api.createUser()
  await api.addFunds(userId, credit)
  const orderId = await api.createOrder(userId)
  for (const item of items) await api.addItem(orderId, item, 1)
  return { orderId, userId }
}

test('malformed messages on every partition of every consumed topic are set aside, and checkouts flow on', async () => {
  const marker = `poison-${randomUUID()}`
  const topics = [Topics.stock, Topics.payment, Topics.saga]
  await produce(
    topics.flatMap((topic) =>
      [0, 1, 2].flatMap((partition) => [
        { topic, partition, key: marker, value: 'not json {' },
        { topic, partition, key: marker, value: JSON.stringify({ type: 'Bogus', sagaId: marker, orderId: marker }) },
      ]),
    ),
  )
  const item = await env.api.createItem(1)
  await env.api.addStock(item, 10)
  for (let i = 0; i < 6; i++) {
    const { orderId } = await orderOf([item], 1)
    assert.equal((await env.api.checkout(orderId)).status, 200)
  }
  const letters = await deadLettersWhere((letter) => letter.key === marker, topics.length * 3 * 2)
  assert.deepEqual([...new Set(letters.map((l) => `${l.topic}[${l.partition}]`))].sort(), topics.flatMap((t) => [0, 1, 2].map((p) => `${t}[${p}]`)).sort())
  assert.ok(letters.every((l) => l.attempts === 1 && /malformed/.test(l.error)))
})

test('a command failing by its own fault every time is set aside after 5 attempts; its checkout is refused, nothing taken', async () => {
  const { api, cluster } = env
  const good = await api.createItem(2)
  await api.addStock(good, 5)
  const bad = await api.createItem(3)
  await api.addStock(bad, 5)
  const { orderId, userId } = await orderOf([good, bad], 100)
  // Data the take script cannot use: it checks every line before it changes one, so it takes nothing.
  const redis = new Redis(cluster.redis.stock.url!)
  try {
    await redis.hset(`item:${bad}`, 'stock', 'not a number')
    const response = await api.checkout(orderId)
    assert.equal(response.status, 422)
    assert.equal(response.body.code, 'NOT_PROCESSED')
    const [letter] = await deadLettersWhere((l) => l.key === orderId, 1)
    assert.equal(letter!.topic, Topics.stock)
    assert.equal(letter!.attempts, 5)
    assert.match(letter!.error, /user_script/)
  } finally {
    await redis.hset(`item:${bad}`, 'stock', '5')
    redis.disconnect()
  }
  assert.equal((await api.findItem(good)).stock, 5)
  assert.equal((await api.findUser(userId)).credit, 100)
  assert.equal((await api.findOrder(orderId)).paid, false)
  const stock = cluster.processes.find((p) => p.name === 'stock-1')!
  assert.match(await (await fetch(`http://127.0.0.1:${stock.port}/metrics`)).text(), /^dead_letters_total\{topic="stock.commands"\} [1-9]/m)
  // The partition flows on: the same order checks out once its data is mended.
  assert.equal((await api.checkout(orderId)).status, 200)
})

test('a reply the saga awaits, malformed, aborts the saga: the reserved stock is returned and the checkout refused', async () => {
  const { api, cluster } = env
  const item = await api.createItem(4)
  await api.addStock(item, 3)
  const { orderId, userId } = await orderOf([item], 100)
  const redis = new Redis(cluster.redis.order.url!)
  cluster.pause('stock-1') // the saga waits at reserve-stock
  try {
    const checkout = api.checkout(orderId)
    let sagaId: string | null = null
    await waitUntil('the saga to start', async () => (sagaId = await redis.hget(`order:${orderId}`, 'checkout')) !== null, 10_000)
    // A refusal without its reason: of the type the step awaits, but not one the saga can use.
    await produce([{ topic: Topics.saga, key: orderId, value: JSON.stringify({ type: 'StockRejected', sagaId, orderId }) }])
    await sleep(500)
    cluster.resume('stock-1') // takes the stock, then gives it back: the abort compensates the step
    const response = await checkout
    assert.equal(response.status, 422)
    assert.equal(response.body.code, 'NOT_PROCESSED')
  } finally {
    cluster.resume('stock-1')
    redis.disconnect()
  }
  assert.equal((await api.findItem(item)).stock, 3)
  assert.equal((await api.findUser(userId)).credit, 100)
  assert.equal((await api.findOrder(orderId)).paid, false)
})
