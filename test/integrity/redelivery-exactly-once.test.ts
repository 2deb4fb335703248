// A command delivered twice (as Kafka does after a crash before the offset commit) has one effect,
// and both deliveries get the same reply.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { Consumer, stringDeserializers } from '@platformatic/kafka'
import { loadConfig } from '../../platform/config.js'
import { Publisher } from '../../platform/kafka.js'
import { createLogger } from '../../platform/logger.js'
import { Topics, type AnyMessage, type Outgoing } from '../../platform/messages.js'
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

test('ReserveStock and ChargePayment delivered twice: one effect each, the same reply twice', async () => {
  const { api, cluster } = env
  const item = await api.createItem(2)
  await api.addStock(item, 10)
  const user = await api.createUser()
  await api.addFunds(user, 10)
  const [rich, poor] = [randomUUID(), randomUUID()]
  const orderId = randomUUID()
  const commands: Outgoing[] = [
    { topic: Topics.stock, message: { type: 'ReserveStock', sagaId: rich, orderId, items: [[item, 4]] } },
    { topic: Topics.payment, message: { type: 'ChargePayment', sagaId: rich, orderId, userId: user, amount: 8 } },
    { topic: Topics.payment, message: { type: 'ChargePayment', sagaId: poor, orderId, userId: user, amount: 8 } },
  ]
  const publisher = new Publisher(loadConfig({ KAFKA_BROKERS: cluster.kafkaBrokers.join(',') }, 'order').kafka, 'redelivery-test', createLogger('test', 'redelivery'))
  try {
    await publisher.publish(commands)
    await publisher.publish(commands)
  } finally {
    await publisher.close()
  }
  const replies = await repliesFor(cluster.kafkaBrokers, new Set([rich, poor]), 6)
  const of = (sagaId: string, type: string) => replies.filter((r) => r.sagaId === sagaId && r.type.startsWith(type))
  assert.deepEqual(of(rich, 'Stock').map((r) => r.type), ['StockReserved', 'StockReserved'])
  assert.deepEqual(of(rich, 'Payment').map((r) => r.type), ['PaymentCharged', 'PaymentCharged'])
  assert.deepEqual(of(poor, 'Payment'), [
    { type: 'PaymentRejected', sagaId: poor, orderId, reason: 'INSUFFICIENT_CREDIT' },
    { type: 'PaymentRejected', sagaId: poor, orderId, reason: 'INSUFFICIENT_CREDIT' },
  ])
  assert.equal((await api.findItem(item)).stock, 6, 'stock taken once')
  assert.equal((await api.findUser(user)).credit, 2, 'charged once')
})
