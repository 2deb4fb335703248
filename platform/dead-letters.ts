// Dead letters: a message that can never be handled (malformed, of an unknown type, or failing the same
// way every time: a script error on bad data, a handler bug) is set aside on the dead-letter topic with
// its error, so that its partition moves on, instead of being retried for ever in front of every
// message behind it. Faults of the infrastructure (Redis or Kafka unreachable, a failover, replicas not
// acknowledging) are never the message's: those are retried until they pass.
import type { RawRecord } from './kafka.js'

export const DEAD_LETTER_TOPIC = 'dead.letters'

/** Attempts before a message whose handling fails by its own fault is dead-lettered. */
export const POISON_ATTEMPTS = 5

/** What the dead-letter topic holds for each message set aside, as JSON (`npm run -s cluster -- dlq` lists them). */
export interface DeadLetter {
  topic: string
  partition: number
  offset: string
  key: string
  /** The message as it was received. */
  value: string
  error: string
  attempts: number
  /** Which replica set it aside, and when (ms since the epoch). */
  instance: string
  at: number
}

/** The ids a message carries, read leniently: enough to end its saga when the message itself is bad. */
export interface Envelope {
  type: string
  sagaId: string
  orderId: string
  replyPartition?: number
}

export function decodeEnvelope(text: string): Envelope | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<keyof Envelope, unknown>> | null
    if (typeof value?.sagaId !== 'string' || typeof value.orderId !== 'string' || !value.sagaId || !value.orderId) return undefined
    const replyPartition = Number.isSafeInteger(value.replyPartition) && (value.replyPartition as number) >= 0 ? (value.replyPartition as number) : undefined
    return { type: String(value.type ?? ''), sagaId: value.sagaId, orderId: value.orderId, ...(replyPartition === undefined ? {} : { replyPartition }) }
  } catch {
    return undefined
  }
}

/**
 * Whether a handler's error is the message's own fault, the same on every attempt: an error raised
 * inside a Redis script (Lua runtime error on data it cannot use), or a programming error in the
 * handler. Anything else (connection lost, READONLY or LOADING during a failover, WAIT not met) is the
 * infrastructure's, and the message is retried until it passes.
 */
export function isMessageFault(err: unknown): boolean {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError) return true
  const message = err instanceof Error ? err.message : ''
  // Redis refusing a script's write for its own state names the script too ("NOREPLICAS ... on
  // @user_script:1" from a master that lost its replicas): that is the infrastructure's fault.
  if (INFRASTRUCTURE_REFUSAL.test(message)) return false
  return /user_script|Error running script|attempt to (compare|perform arithmetic|index|call)/.test(message)
}

/** Redis's error codes for a server that cannot take the command now (a failover, a partition, memory). */
const INFRASTRUCTURE_REFUSAL = /^(NOREPLICAS|READONLY|LOADING|MASTERDOWN|BUSY|OOM|NOAUTH|NOPERM|TRYAGAIN|CLUSTERDOWN)\b/

/** The dead-letter record of a received message. */
export function deadLetterRecord(letter: DeadLetter): RawRecord {
  return { topic: DEAD_LETTER_TOPIC, key: letter.key, value: JSON.stringify(letter) }
}

/** Counts failed attempts per message (topic, partition, offset) until it passes or is set aside. */
export class PoisonCounter {
  readonly #failures = new Map<string, number>()

  /** One more failure of this message; returns how many it has had. */
  failed(topic: string, partition: number, offset: bigint): number {
    const key = `${topic}:${partition}:${offset}`
    const count = (this.#failures.get(key) ?? 0) + 1
    this.#failures.set(key, count)
    // Bounded: a message that stops failing (a transient fault after all) is forgotten below.
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!)
    return count
  }

  passed(topic: string, partition: number, offset: bigint): void {
    if (this.#failures.size > 0) this.#failures.delete(`${topic}:${partition}:${offset}`)
  }
}
