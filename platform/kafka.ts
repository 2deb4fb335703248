// The Kafka bus: topic set-up, a batching publisher, and consumers tuned for low latency.
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import type { KafkaConfig } from './config.js'
import type { Logger } from './logger.js'
import { DEAD_LETTER_TOPIC } from './dead-letters.js'
import { allTopics, type Outgoing } from './messages.js'
import { metrics } from './metrics.js'
import { Attr, context, endSpan, messageAttributes, SpanKind, SpanName, startSpan, traceHeaders, tracing, type Span } from './telemetry.js'

/** Partition leaders move within seconds of a broker's death; look them up again at least this often. */
const METADATA_MAX_AGE_MS = 1000

/** A broker that does not accept a connection this soon is down or cut off (the client's default is 5 s). */
const CONNECT_TIMEOUT_MS = 2000
/** The broker answers a produce (acks=all) within its own 5 s timeout; past this, the broker is gone. */
const PRODUCE_REQUEST_TIMEOUT_MS = 6000
/**
 * How long the coordinator waits for every member to rejoin in a rebalance. Members rejoin within
 * milliseconds (the consumer loop never blocks on processing): a member that takes longer is left out
 * and rejoins later, rather than holding up every partition of the group.
 */
const REBALANCE_TIMEOUT_MS = 3000

/**
 * A group member that has not heard from its coordinator for this long (no heartbeat answered, or a
 * join not done) is stuck, most likely on a connection that a partition left silent: the client only
 * gives such a (re)join up after nested retries of FindCoordinator, Metadata and JoinGroup (30-60 s).
 * Longer than a rebalance may rightly silence a member: its last heartbeat (1 s interval) before the
 * rebalance, the JoinGroup the coordinator holds (up to the rebalance timeout), SyncGroup, and the first
 * heartbeat after it.
 */
export const MEMBER_SILENCE_LIMIT_MS = REBALANCE_TIMEOUT_MS + 5000
/**
 * Sooner when the heartbeats themselves fail (time out, or their connection closes) rather than wait
 * in a rebalance: the client would keep sending them to a coordinator that does not answer.
 */
export const FAILING_HEARTBEAT_LIMIT_MS = REBALANCE_TIMEOUT_MS + 1000

/** The SASL login of every client, when the brokers require one. */
const login = ({ sasl }: KafkaConfig) => (sasl ? { sasl } : {})

export type StringConsumer = Consumer<string, string, string, string>

export async function ensureTopics(config: KafkaConfig, logger: Logger, topics: readonly string[] = [...allTopics, DEAD_LETTER_TOPIC]): Promise<void> {
  const admin = new Admin({ clientId: 'topic-setup', bootstrapBrokers: config.brokers, retries: 20, retryDelay: 500, ...login(config) })
  try {
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t))
    if (missing.length === 0) return
    try {
      await admin.createTopics({
        topics: missing,
        partitions: config.partitions,
        replicas: config.replicationFactor,
        configs: [{ name: 'min.insync.replicas', value: String(config.minInsyncReplicas) }],
      })
      logger.info({ topics: missing }, 'created topics')
    } catch (err) {
      // Another process may have created them at the same moment; only fail if they are still missing.
      const now = new Set(await admin.listTopics())
      if (missing.some((t) => !now.has(t))) throw err
    }
  } finally {
    await admin.close()
  }
}

/** A message as it goes to Kafka. */
export interface RawRecord {
  topic: string
  key: string
  value: string
  partition?: number
  headers?: Record<string, string>
}

/**
 * Publishes JSON messages keyed by order id. Sends go out one request at a time; messages published
 * while a request is in flight are gathered into the next one, so batches grow with load and a lone
 * message leaves at once. publish() resolves once every broker in the ISR has the message (acks=all);
 * messages go out in the order publish() was called. When tracing, each message is a producer span
 * (child of the message's `trace`, else of the active context) whose W3C context rides in its headers.
 */
export class Publisher {
  readonly #producer: Producer<string, string, string, string>
  #queue: { records: RawRecord[]; done: (err?: Error) => void }[] = []
  #sending = false
  /** When the send under way began (Date.now()), counting its retries; undefined when none is. */
  #sendingSince: number | undefined
  #closed = false
  readonly #logger: Logger

  constructor(config: KafkaConfig, clientId: string, logger: Logger) {
    this.#logger = logger
    this.#producer = new Producer({
      clientId,
      bootstrapBrokers: config.brokers,
      ...login(config),
      serializers: stringSerializers,
      idempotent: true,
      acks: -1,
      // Publisher retries on its own, forever; the client's retries only need to ride out a blip.
      retries: 3,
      retryDelay: 200,
      metadataMaxAge: METADATA_MAX_AGE_MS,
      // A broker cut off by a partition never answers: give up on its connection after this (the
      // client's default is 30 s), so the publisher retries on fresh metadata and the new leader.
      requestTimeout: PRODUCE_REQUEST_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
    })
  }

  /** Publishes messages, and records as they are (dead letters), in one go and in this order. */
  publish(outgoing: Outgoing[], raw: RawRecord[] = []): Promise<void> {
    if (outgoing.length === 0 && raw.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => (err ? reject(err) : resolve())
      const entry = tracing() ? this.#traced(outgoing, done) : { records: outgoing.map((o) => toRecord(o)), done }
      entry.records.push(...raw)
      this.#queue.push(entry)
      if (!this.#sending) {
        // Start on the next turn: everything published in this one (e.g. by many HTTP requests) shares a request.
        this.#sending = true
        setImmediate(() => void this.#drain())
      }
    })
  }

  /** A queue entry whose messages carry their producer span's context; the spans end when the send does. */
  #traced(outgoing: Outgoing[], done: (err?: Error) => void) {
    const spans: Span[] = []
    const records = outgoing.map((o) => {
      const attributes = { [Attr.messagingSystem]: 'kafka', [Attr.messagingOperation]: 'send', [Attr.destination]: o.topic, ...messageAttributes(o.message) }
      const started = startSpan(SpanName.publish(o.topic), SpanKind.PRODUCER, attributes, o.trace ?? context.active())
      spans.push(started.span)
      return toRecord(o, traceHeaders(started.context))
    })
    return {
      records,
      done: (err?: Error) => {
        for (const span of spans) endSpan(span, err)
        done(err)
      },
    }
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue
      this.#queue = []
      const messages = batch.flatMap((entry) => entry.records)
      this.#sendingSince = Date.now()
      // A failed send is retried until it goes through (or the publisher closes): callers rely on
      // publish order, and a consumer commits its offsets only after its replies are out.
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#producer.send({ messages })
          for (const entry of batch) entry.done()
          break
        } catch (err) {
          if (this.#closed) {
            for (const entry of batch) entry.done(err as Error)
            break
          }
          metrics.kafkaErrors.inc({ operation: 'publish' })
          this.#logger.warn({ err: (err as Error).message, attempt, messages: messages.length }, 'publish failed, retrying')
          await sleep(Math.min(100 * attempt, 1000))
        }
      }
      this.#sendingSince = undefined
    }
    this.#sending = false
  }

  /**
   * How long the send under way has been trying (0 when none is). Sends take milliseconds; one that
   * cannot reach a partition's leader (a partition between this process and that broker) keeps
   * trying, and holds back every message after it.
   */
  pendingMs(): number {
    return this.#sendingSince === undefined ? 0 : Date.now() - this.#sendingSince
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#producer.close()
  }
}

function toRecord(o: Outgoing, headers?: Record<string, string>): RawRecord {
  return {
    topic: o.topic,
    key: o.message.orderId,
    value: JSON.stringify(o.message),
    ...(o.partition === undefined ? {} : { partition: o.partition }),
    ...(headers ? { headers } : {}),
  }
}

/** A consumer whose client asks `brokers` in that order (see MetadataWitness.reachableFirst). */
export function createConsumer(config: KafkaConfig, groupId: string, clientId: string, brokers = config.brokers): StringConsumer {
  return new Consumer({
    clientId,
    groupId,
    // Static membership: a replica restarted under the same name takes its partitions straight back,
    // without a rebalance of the whole group (and without waiting out the dead member's session).
    groupInstanceId: clientId,
    bootstrapBrokers: brokers,
    ...login(config),
    deserializers: stringDeserializers,
    // A dead member's partitions move to a live one after this long: the stall a consumer crash causes.
    // (The client wants it no longer than the rebalance timeout.)
    sessionTimeout: REBALANCE_TIMEOUT_MS,
    heartbeatInterval: 1000,
    rebalanceTimeout: REBALANCE_TIMEOUT_MS,
    // A broker cut off by a partition never answers: give up on it after this, not the client's 30 s
    // (a heartbeat to a coordinator cut off times out, and the consumer rejoins at the new one).
    // Longer than a JoinGroup may rightly be held by the coordinator (the rebalance timeout).
    requestTimeout: REBALANCE_TIMEOUT_MS + 1000,
    // The broker answers a fetch as soon as one byte is there; this only bounds an idle poll.
    minBytes: 1,
    maxWaitTime: 500,
    // Fail fast after a broker died or was cut off: the consumer loop then opens a new stream on fresh
    // metadata. (A retry goes to the same broker, which a partition keeps silent: one is enough.)
    retries: 1,
    retryDelay: 250,
    connectTimeout: CONNECT_TIMEOUT_MS,
    metadataMaxAge: METADATA_MAX_AGE_MS,
  })
}
