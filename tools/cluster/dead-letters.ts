// `cluster dlq`: lists the messages the services set aside on the dead-letter topic (see
// platform/dead-letters.ts for the record), read from its start by a throw-away consumer group.
import { randomUUID } from 'node:crypto'
import { kafkaSasl, type Login } from './credentials.js'
import { Consumer, stringDeserializers } from '@platformatic/kafka'

const DEAD_LETTER_TOPIC = 'dead.letters'

export interface DeadLetter {
  topic: string
  partition: number
  offset: string
  key: string
  value: string
  error: string
  attempts: number
  instance: string
  at: number
}

/** Every dead letter so far; stops once none came for `idleMs` (the first one may take a while: the group joins). */
export async function readDeadLetters(brokers: string[], login?: Login, idleMs = 2000): Promise<DeadLetter[]> {
  const consumer = new Consumer({
    clientId: 'dead-letters',
    groupId: `dead-letters-${randomUUID()}`,
    bootstrapBrokers: brokers,
    ...kafkaSasl(login),
    deserializers: stringDeserializers,
  })
  const letters: DeadLetter[] = []
  try {
    const stream = await consumer.consume({ topics: [DEAD_LETTER_TOPIC], mode: 'earliest', autocommit: false })
    let idle = setTimeout(() => void stream.close(), idleMs * 5)
    for await (const record of stream) {
      clearTimeout(idle)
      idle = setTimeout(() => void stream.close(), idleMs)
      letters.push(JSON.parse(record.value) as DeadLetter)
    }
    clearTimeout(idle)
  } finally {
    await consumer.close().catch(() => undefined)
  }
  return letters
}

/** One line per dead letter: when, where from, which saga and order, and why. */
export function formatDeadLetter(letter: DeadLetter): string {
  let ids = ''
  try {
    const { type, sagaId, orderId } = JSON.parse(letter.value) as Record<string, unknown>
    ids = ` ${String(type)} saga ${String(sagaId)} order ${String(orderId)}`
  } catch {
    ids = ` (unreadable: ${JSON.stringify(letter.value.slice(0, 60))})`
  }
  return `${new Date(letter.at).toISOString()} ${letter.topic}[${letter.partition}]@${letter.offset}${ids}: ${letter.error} (after ${letter.attempts} attempt(s), ${letter.instance})`
}
