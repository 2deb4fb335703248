// Produces one message to a topic and reads it back in a fresh consumer group: the smallest proof that
// a Kafka cluster accepts writes (acks=all, idempotent) and serves them.
import { Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'

export async function roundTrip(bootstrapBrokers: string[], topic: string, value: string): Promise<string | undefined> {
  const producer = new Producer({ clientId: 'cluster-test', bootstrapBrokers, serializers: stringSerializers, idempotent: true, acks: -1 })
  await producer.send({ messages: [{ topic, key: 'greeting', value }] })
  await producer.close()

  const consumer = new Consumer({ clientId: 'cluster-test', groupId: `group-${topic}`, bootstrapBrokers, deserializers: stringDeserializers })
  const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
  let received: string | undefined
  for await (const message of stream) {
    received = message.value
    break
  }
  await stream.close()
  await consumer.close()
  return received
}
