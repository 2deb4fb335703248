// A command delivered twice (as Kafka does after a crash before the offset commit) has one effect,
// and both deliveries get the same reply. And what a participant took for a saga the order service
// does not know (its start lost with a Redis failover) is given back.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { Consumer, stringDeserializers } from '@platformatic/kafka'
import { loadConfig } from '../../platform/config.js'
import { Publisher } from '../../platform/kafka.js'
import { createLogger } from '../../platform/logger.js'
import { Topics, type AnyMessage, type Outgoing } from '../../platform/messages.js'
import { newSagaId } from '../../services/order/domain.js'
import { waitUntil } from '../../tools/cluster/probes.js'
import { useCluster } from '../support/cluster.js'

const env = useCluster()

async function repliesFor(brokers: string[], sagaIds: Set<string>, count: number): Promise<AnyMessage[]> {
  const consumer = new Consumer({ clientId: 'redelivery-test', groupId: `redelivery-${randomUUID()}`, bootstrapBrokers: brokers, deserializers: stringDeserializers })
  const stream = await consumer.consume({ topics: [Topics.saga], mode: 'earliest', autocommit: false })
  const found: AnyMessage[] = []
  const deadline = setTimeout(() => void stream.close(), 30_000)
  try {
    for await (const record of stream) {
      const message = JSON.parse(record.value) as AnyMessage
      if (sagaIds.has(message.sagaId)) found.push(message)
      if (found.length >= count) break
    }
  } finally {
    clearTimeout(deadline)
    await stream.close().catch(() => undefined)
    await consumer.close().catch(() => undefined)
  }
  return found
}

const HOUR_MS = 3600_000

/** Sends the commands twice, as a redelivery would. */
async function sendTwice(brokers: string[], commands: Outgoing[]): Promise<void> {
  const publisher = new Publisher(loadConfig({ KAFKA_BROKERS: brokers.join(',') }, 'order').kafka, 'redelivery-test', createLogger('test', 'redelivery'))
  try {
    await publisher.publish(commands)
    await publisher.publish(commands)
  } finally {
    await publisher.close()
  }
}

test('ReserveStock and ChargePayment delivered twice: one effect each, the same reply twice', async () => {
  const { api, cluster } = env
  const item = await api.createItem(2)
  await api.addStock(item, 10)
  const user = await api.createUser()
  await api.addFunds(user, 10)
  // Saga ids of a day ago: the order service, which knows no such saga, takes the replies for late
  // duplicates of a saga long finished and leaves them alone (the next test has a recent one).
  const [rich, poor] = [newSagaId(Date.now() - 24 * HOUR_MS), newSagaId(Date.now() - 24 * HOUR_MS)]
  const orderId = randomUUID()
  const commands: Outgoing[] = [
    { topic: Topics.stock, message: { type: 'ReserveStock', sagaId: rich, orderId, items: [[item, 4]] } },
    { topic: Topics.payment, message: { type: 'ChargePayment', sagaId: rich, orderId, userId: user, amount: 8 } },
    { topic: Topics.payment, message: { type: 'ChargePayment', sagaId: poor, orderId, userId: user, amount: 8 } },
  ]
  await sendTwice(cluster.kafkaBrokers, commands)
  const replies = await repliesFor(cluster.kafkaBrokers, new Set([rich, poor]), 6)
  const of = (sagaId: string, type: string) => replies.filter((r) => r.sagaId === sagaId && r.type.startsWith(type))
  const reserved = { type: 'StockReserved', sagaId: rich, orderId, items: [[item, 4]] }
  assert.deepEqual(of(rich, 'Stock'), [reserved, reserved], 'the same reply twice, naming what was taken')
  const charged = { type: 'PaymentCharged', sagaId: rich, orderId, userId: user, amount: 8 }
  assert.deepEqual(of(rich, 'Payment'), [charged, charged])
  assert.deepEqual(of(poor, 'Payment'), [
    { type: 'PaymentRejected', sagaId: poor, orderId, reason: 'INSUFFICIENT_CREDIT' },
    { type: 'PaymentRejected', sagaId: poor, orderId, reason: 'INSUFFICIENT_CREDIT' },
  ])
  assert.equal((await api.findItem(item)).stock, 6, 'stock taken once')
  assert.equal((await api.findUser(user)).credit, 2, 'charged once')
})

test('what stock and payment took for a saga the order service does not know is given back, once', async () => {
  const { api, cluster } = env
  const item = await api.createItem(3)
  await api.addStock(item, 10)
  const user = await api.createUser()
  await api.addFunds(user, 20)
  const order = await api.createOrder(user)
  await api.addItem(order, item, 2)
  // What a lost saga start leaves behind: its commands went out, the order never heard of the saga.
  const lost = newSagaId()
  const commands: Outgoing[] = [
    { topic: Topics.stock, message: { type: 'ReserveStock', sagaId: lost, orderId: order, items: [[item, 2]] } },
    { topic: Topics.payment, message: { type: 'ChargePayment', sagaId: lost, orderId: order, userId: user, amount: 6 } },
  ]
  await sendTwice(cluster.kafkaBrokers, commands)

  // Each success reply is undone (the order service does not remember that it undid one already); the
  // participants give back once per saga and answer the repeat from their record.
  const types = (await repliesFor(cluster.kafkaBrokers, new Set([lost]), 8)).map((r) => r.type)
  assert.deepEqual(types.sort(), ['PaymentCharged', 'PaymentCharged', 'PaymentRefunded', 'PaymentRefunded', 'StockReleased', 'StockReleased', 'StockReserved', 'StockReserved'])
  await waitUntil('stock and credit given back', async () => (await api.findItem(item)).stock === 10 && (await api.findUser(user)).credit === 20, 30_000, 200)
  await new Promise((resolve) => setTimeout(resolve, 2000))
  assert.equal((await api.findItem(item)).stock, 10, 'given back once')
  assert.equal((await api.findUser(user)).credit, 20, 'refunded once')
  assert.equal((await api.findOrder(order)).paid, false, 'the order is untouched')
})
