// One consumer session: a member's time in its group, from the join to the moment it is lost (its
// stream failed, the client gave the member up, or the consumer loop ended it), and its forced close.
// The consumer loop (idempotent-consumer.ts) opens the next one.
import type { Readable } from 'node:stream'
import { instancesChannel } from '@platformatic/kafka'
import { createConsumer, MEMBER_SILENCE_LIMIT_MS, type StringConsumer } from './kafka.js'
import type { KafkaConfig } from './config.js'
import type { Logger } from './logger.js'
import { metrics } from './metrics.js'
import { OffsetCommitter } from './offset-committer.js'

/** How long a lost session is given to close before the next one opens. */
export const CLOSE_WAIT_MS = 2000

/**
 * How a session was lost: it failed; this replica hands its partitions over (and sits out); or its
 * group coordinator stopped answering (nothing more is waited for from it: not the offsets, not the leave).
 */
export type LossKind = 'failed' | 'hand-over' | 'coordinator-silent'

export interface Session {
  consumer: StringConsumer
  /** The brokers its client asks, in that order (the first reachable one for metadata and the coordinator). */
  brokers: string[]
  stream: Readable & { close(): Promise<void> }
  offsets: OffsetCommitter
  /** When it joined its group (Date.now()). */
  joinedAt: number
  /** Why the session ended early, once it did: the loop then closes it and opens the next. */
  lost?: { reason: string; kind: LossKind }
  /** Resolves once the session is lost: the loop's waits race it. */
  whenLost: Promise<void>
  lose(reason: string, kind?: LossKind): void
}

export interface SessionOptions {
  kafka: KafkaConfig
  groupId: string
  clientId: string
  topic: string
  logger: Logger
}

/** Joins the group, asking `brokers` in that order, or throws if that fails or takes longer than `joinLimitMs`. */
export async function openSession({ kafka, groupId, clientId, topic, logger }: SessionOptions, brokers = kafka.brokers, joinLimitMs = MEMBER_SILENCE_LIMIT_MS): Promise<Session> {
  const consumer = createConsumer(kafka, groupId, clientId, brokers)
  // Who consumes what, for the operator (and for reading a chaos run's logs): rebalances are rare.
  // Listened to before the join, whose own assignment it used to miss.
  consumer.on('consumer:group:join', ({ generationId, assignments }: { generationId: number; assignments?: { topic: string; partitions: number[] }[] }) => {
    const partitions = assignments?.find((a) => a.topic === topic)?.partitions ?? []
    logger.info({ groupId, generationId, partitions }, 'partitions assigned')
  })
  const consuming = consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
  // A join that failed is closed like one given up on: left open, its client kept its connections.
  const stream = await within(consuming, joinLimitMs).catch((err: Error) => (abandon(consumer, consuming), Promise.reject(err)))
  if (!stream) {
    abandon(consumer, consuming)
    throw new Error(`joining the group took longer than ${joinLimitMs} ms`)
  }
  let lost!: () => void
  const session: Session = {
    consumer,
    brokers,
    stream: stream as unknown as Session['stream'],
    offsets: new OffsetCommitter(consumer, logger),
    joinedAt: Date.now(),
    whenLost: new Promise((resolve) => (lost = resolve)),
    lose(reason, kind = 'failed') {
      this.lost ??= { reason, kind }
      lost()
    },
  }
  // A failed fetch destroys the stream, whose 'close' comes only once its connections closed: over
  // a link a partition left silent, not before it heals. The session ends at the error.
  stream.on('error', (err: Error) => {
    metrics.kafkaErrors.inc({ operation: 'consume' })
    logger.error({ err: err.message, groupId }, 'consumer stream error')
    session.lose(err.message)
  })
  // The client gives a member up when it cannot rejoin its group in time (a coordinator unreachable
  // for a while), and says so with an 'error' event: unheard, that event would end the process.
  consumer.on('error', (err: Error) => {
    metrics.kafkaErrors.inc({ operation: 'consume' })
    logger.error({ err: err.message, groupId }, 'consumer left its group, rejoining with a new session')
    session.lose(err.message)
  })
  return session
}

/** Forced, and not waited for long (at all once its coordinator is known not to answer): see quit. */
export async function closeSession({ stream, consumer, lost }: Session): Promise<void> {
  const closing = within(stream.close(), CLOSE_WAIT_MS)
    .catch(() => undefined)
    .then(() => within(quit(consumer), CLOSE_WAIT_MS))
  if (lost?.kind !== 'coordinator-silent') await closing
}

/**
 * Consumers whose join was given up on. Each is closed at once: left to finish its join, it joined
 * the group later under the same static member id as the next session, the two fenced each other, and
 * the group rebalanced every second (for 17 s after a heal in a chaos run). Closed mid-join, the client
 * may still build it a stream, which fails as it is built, with an 'error' event emitted before the
 * caller can listen (it ended a payment replica in a chaos run): every such stream is listened to at
 * birth, through the client's diagnostics channel for the objects it creates.
 */
const abandoned = new WeakSet<object>()
instancesChannel.subscribe((created) => {
  const { type, instance } = created as { type: string; instance: Readable & { consumer?: object } }
  if (type === 'messages-stream' && instance.consumer && abandoned.has(instance.consumer)) instance.on('error', () => undefined)
})

function abandon(consumer: StringConsumer, consuming: Promise<Readable & { close(): Promise<void> }>): void {
  abandoned.add(consumer)
  void consuming.then((late) => late.close()).catch(() => undefined)
  void quit(consumer, CLOSE_WAIT_MS)
}

/**
 * Out of the group, then closed. leaveGroup() goes first because it ends the membership at once,
 * whereas close() does not: a rejoin under way that completed after close() armed heartbeats that
 * nothing stopped. close() waits for the leave (which first closes the consumer's streams): it clears
 * the consumer's topics, and a stream still fetching then crashed the process (`metadata.topics.get
 * (topic)` undefined, thrown in a callback). Only a consumer with no stream (a join given up on) is
 * closed after `leaveWaitMs` without its leave: the leave over a silent connection would hang, and
 * that join must not complete meanwhile.
 */
async function quit(consumer: StringConsumer, leaveWaitMs?: number): Promise<void> {
  // (The callback form: the typings give the promise form a `void` overload first.)
  const leaving = new Promise<void>((resolve) => consumer.leaveGroup(true, () => resolve()))
  await (leaveWaitMs === undefined ? leaving : within(leaving, leaveWaitMs))
  await consumer.close(true).catch(() => undefined)
}

/** The promise's value, or undefined if it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Resolves when the stream has data again (or closed). The 'readable' listener stays attached for the
 * stream's life: removing the last one makes the stream "unconsumed", and the client stops fetching.
 */
export function readableSignal(stream: Readable): () => Promise<void> {
  let wake: (() => void) | undefined
  const fire = () => {
    const resolve = wake
    wake = undefined
    resolve?.()
  }
  stream.on('readable', fire)
  stream.on('close', fire)
  return () => new Promise((resolve) => (wake = resolve))
}
