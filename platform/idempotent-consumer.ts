// The idempotent consumer loop shared by every service.
// For each batch: every handler runs one atomic Redis script (guard + change + stored reply), then the
// writes are made durable (WAIT for the replica), then what the handlers announce happens (replies
// published, outcomes handed to waiting requests), then the offsets are committed. A crash anywhere in
// between redelivers the batch; the scripts answer a redelivered message with the reply they stored the
// first time, and change nothing.
// A message that can never be handled is set aside on the dead-letter topic (dead-letters.ts), and
// the service may answer for it (a refusal that ends its saga).
// Each message's handling is a consumer span continuing the trace in its headers; its replies carry it on.
// The loop runs one consumer session after another (consumer-session.ts): a session lost (a failed
// fetch, a silent coordinator) is replaced, and a replica that cannot work leaves its group a while
// (work-check.ts).
import { setTimeout as sleep } from 'node:timers/promises'
import { deadLetterRecord, decodeEnvelope, isMessageFault, POISON_ATTEMPTS, PoisonCounter, type Envelope } from './dead-letters.js'
import { CLOSE_WAIT_MS, closeSession, openSession, readableSignal, within, type Session } from './consumer-session.js'
import { FAILING_HEARTBEAT_LIMIT_MS, MEMBER_SILENCE_LIMIT_MS, type Publisher, type RawRecord } from './kafka.js'
import type { KafkaConfig } from './config.js'
import type { Logger } from './logger.js'
import { MetadataWitness } from './metadata-witness.js'
import { decodeMessage, type Outgoing, type Topic, type TopicMessages } from './messages.js'
import { metrics } from './metrics.js'
import { WorkCheck } from './work-check.js'
import type { OffsetCommitter } from './offset-committer.js'
import { Attr, context, contextFromKafkaHeaders, endSpan, messageAttributes, SpanKind, SpanName, startSpan, tracing } from './telemetry.js'

const MAX_BATCHES_IN_FLIGHT = 8

/** What handling a message leads to, once the batch it came in is durable. */
export interface Reaction {
  /** Messages to publish (replies, the saga's next command). */
  send: Outgoing[]
  /** Local effects to announce, e.g. an outcome handed to the HTTP request waiting for it. */
  announce?: () => void
}

export type MessageHandler<T extends Topic = Topic> = (message: TopicMessages[T]) => Promise<Reaction>

/** What a service does about a message it set aside: e.g. refuse the command, so that its saga ends. */
export type DeadLetterHandler = (envelope: Envelope, error: string) => Promise<Reaction>

/** A batch handled: what it leads to, and the messages it set aside. */
interface Applied {
  reactions: Reaction[]
  deadLetters: RawRecord[]
}

export interface ConsumerLoopOptions<T extends Topic> {
  kafka: KafkaConfig
  groupId: string
  clientId: string
  topic: T
  handle: MessageHandler<T>
  /** Called for a dead-lettered message whose saga and order can be read from it. */
  onDeadLetter?: DeadLetterHandler
  publisher: Publisher
  /** Runs after a batch was applied and before its replies go out (the Redis replication barrier). */
  makeDurable: () => Promise<void>
  /**
   * Throws while this replica cannot do its work (e.g. a write made durable). Given, a replica for
   * which it failed a while leaves its group until it passes (work-check.ts).
   */
  canWork?: () => Promise<void>
  logger: Logger
  maxBatch?: number
}

interface Received {
  key: string
  value: string
  topic: string
  partition: number
  offset: bigint
  /** When the producer sent it (ms since the epoch). */
  timestamp: bigint
  headers: Map<string, string>
}

export class ConsumerLoop<T extends Topic> {
  readonly #options: ConsumerLoopOptions<T>
  #session: Session | undefined
  #running = false
  readonly #work: WorkCheck
  #stopped: Promise<void> = Promise.resolve()
  readonly #poison = new PoisonCounter()
  readonly #witness: MetadataWitness | undefined

  constructor(options: ConsumerLoopOptions<T>) {
    this.#options = options
    this.#work = new WorkCheck(options.canWork, options.publisher, options.logger, options.groupId)
    if (options.kafka.brokers.length > 1) this.#witness = new MetadataWitness(options.kafka, options.clientId)
    metrics.deadLetters.inc({ topic: options.topic }, 0)
  }

  /** The partitions of the topic this consumer has been assigned (none while it joins its group). */
  ownedPartitions(): number[] {
    return this.#session?.consumer.assignments?.find((a) => a.topic === this.#options.topic)?.partitions ?? []
  }

  /** True while this replica is out of its group because it cannot work (see canWork). */
  sittingOut(): boolean {
    return this.#work.sittingOut
  }

  /** Joins the group; while the brokers or the group coordinator cannot be reached, keeps trying. */
  async start(): Promise<void> {
    this.#running = true
    this.#session = await this.#reopen()
    this.#work.worked()
    this.#stopped = this.#supervise()
  }

  async stop(): Promise<void> {
    this.#running = false
    await this.#session?.stream.close().catch(() => undefined)
    await this.#stopped
    // Stopped during a rejoin, the loop ends holding a session it never consumed, stream open: a plain
    // close would fail ("cannot leave group while consuming") and leave that member heartbeating.
    if (this.#session) await closeSession(this.#session)
    await this.#witness?.close()
  }

  /**
   * Ends the session once its member has gone silent too long (the loop then opens a new one), or
   * once this replica could not work a while (the loop then sits out: work-check.ts).
   */
  #watch(session: Session): NodeJS.Timeout {
    const { groupId, logger } = this.#options
    const { consumer } = session
    // Heartbeat errors that are not the group's own (those make the client rejoin): timeouts, lost connections.
    let heartbeatFailing = false
    consumer.on('consumer:heartbeat:error', () => (heartbeatFailing = true))
    consumer.on('consumer:heartbeat:end', () => (heartbeatFailing = false))
    const timer = setInterval(() => {
      if (session.lost) return
      const silentMs = Date.now() - (consumer.lastHeartbeat?.getTime() ?? session.joinedAt)
      const limit = heartbeatFailing ? FAILING_HEARTBEAT_LIMIT_MS : MEMBER_SILENCE_LIMIT_MS
      if (silentMs > limit) {
        metrics.kafkaErrors.inc({ operation: 'silent-member' })
        logger.warn({ groupId, silentMs, heartbeatFailing }, 'no heartbeat answered by the group coordinator: replacing the consumer session')
        session.lose('silent member', 'coordinator-silent')
      } else {
        void this.#work.handOverReason().then((reason) => reason !== undefined && session.lose(reason, 'hand-over'))
        void this.#checkMetadataSource(session)
      }
    }, 1000)
    return timer.unref()
  }

  /**
   * Replaces the session when the broker its client asks for metadata answers stale leaders (a broker
   * cut off from the controller: metadata-witness.ts); the next session asks a current one first.
   */
  async #checkMetadataSource(session: Session): Promise<void> {
    if (!this.#witness?.due(this.ownedPartitions(), session.joinedAt)) return
    const { topic, groupId, logger } = this.#options
    const better = await this.#witness.betterBroker(topic, session.brokers)
    if (!better || session.lost) return
    metrics.kafkaErrors.inc({ operation: 'stale-metadata' })
    // The next session asks the brokers that answer current leaders first (#reopen).
    logger.warn({ groupId, asked: session.brokers[0], next: better }, 'the broker this consumer asks for metadata answers stale leaders (cut off from the controller?): replacing the consumer session')
    session.lose('stale metadata')
  }

  /** Runs the loop; when the client loses its stream (e.g. a broker died), opens a new one and goes on. */
  async #supervise(): Promise<void> {
    while (this.#running) {
      const session = this.#session!
      const watchdog = this.#watch(session)
      try {
        await this.#run(session)
      } catch (err) {
        this.#options.logger.error({ err: (err as Error).message }, 'consumer loop failed')
      } finally {
        clearInterval(watchdog)
      }
      if (!this.#running) return
      const handOver = session.lost?.kind === 'hand-over'
      if (!handOver) this.#options.logger.warn({ groupId: this.#options.groupId, err: session.lost?.reason }, 'consumer stream lost, reconnecting')
      await closeSession(session)
      this.#session = undefined // it owns no partition meanwhile
      if (handOver) await this.#work.sitOut(session.lost!.reason, () => this.#running)
      this.#session = (await this.#reopen()) ?? session
    }
  }

  /**
   * A new session, retried with backoff until it opens (undefined if the loop stops meanwhile). Its
   * client asks the brokers that answer now first: after a partition the configured first may be cut off.
   */
  async #reopen(): Promise<Session | undefined> {
    const { kafka, topic, groupId, logger } = this.#options
    for (let attempt = 1; this.#running; attempt++) {
      await this.#work.stayOutWhileUnfit(() => this.#running)
      const brokers = this.#witness ? await this.#witness.reachableFirst(topic, kafka.brokers) : kafka.brokers
      // With 'partitions assigned' (or the failure below), how long each join took, and where it began.
      logger.info({ groupId, attempt, firstBroker: brokers[0] }, 'joining the group')
      try {
        return await openSession(this.#options, brokers)
      } catch (err) {
        metrics.kafkaErrors.inc({ operation: 'reconnect' })
        logger.warn({ err: (err as Error).message, attempt, groupId }, 'consumer could not join its group yet, retrying')
        await sleep(Math.min(250 * attempt, 2000))
      }
    }
    return undefined
  }

  /** Consumes until the stream ends (stop, or a lost connection). */
  async #run(session: Session): Promise<void> {
    const { stream, offsets, whenLost } = session
    const max = this.#options.maxBatch ?? 500
    const waitReadable = readableSignal(stream)
    // Replies of a batch are published (in order) while the next batch is already being applied.
    let inFlight = 0
    let newest: Promise<void> = Promise.resolve()
    while (this.#running && !session.lost && !stream.destroyed) {
      const batch: Received[] = []
      let next: unknown
      while (batch.length < max && (next = stream.read()) !== null) batch.push(next as Received)
      if (batch.length === 0) {
        await Promise.race([waitReadable(), whenLost])
        continue
      }
      this.#witness?.heard(batch)
      const applied = await this.#applyUntilDone(batch, session)
      if (!applied) break
      inFlight++
      newest = this.#announce(batch, applied, offsets).finally(() => inFlight--)
      // The publisher keeps order, so once the newest batch is out, all earlier ones are too.
      if (inFlight >= MAX_BATCHES_IN_FLIGHT) await Promise.race([newest, whenLost])
    }
    // What is not out yet stays with the publisher, which keeps trying; not committed, its batches go
    // to whoever consumes their partitions next. A lost session does not wait for it, a stop a little.
    await within(Promise.race([newest, whenLost]), CLOSE_WAIT_MS)
    // Offsets go to the group coordinator: not waited for once it is known not to answer.
    if (session.lost?.kind !== 'coordinator-silent') await within(offsets.flush(), CLOSE_WAIT_MS)
  }

  /**
   * Handlers are idempotent, so a failed batch is simply applied again until it goes through; a message
   * failing by its own fault is set aside after POISON_ATTEMPTS, and the batch goes on without it.
   */
  async #applyUntilDone(batch: Received[], session: Session): Promise<Applied | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        // A lost session stops waiting for an attempt (over a silent link, up to Redis's 5 s timeout):
        // left to finish on its own, it changes nothing a redelivery would not.
        const tried = this.#apply(batch).then(async (applied) => (await this.#options.makeDurable(), applied))
        tried.catch(() => undefined)
        const replies = await Promise.race([tried, session.whenLost])
        if (!replies) return undefined
        this.#work.batchDone()
        return replies
      } catch (err) {
        if (!this.#running) throw err
        this.#options.logger.error({ err: (err as Error).message, attempt, size: batch.length }, 'batch failed, retrying')
        // The next session gets the batch again (from the last commit), or another replica does.
        if (session.lost) return undefined
        await sleep(Math.min(100 * attempt, 1000))
      }
    }
  }

  async #apply(batch: Received[]): Promise<Applied> {
    // Messages of one key (one order) run in order; different keys run concurrently.
    const byKey = new Map<string, Received[]>()
    for (const record of batch) {
      const list = byKey.get(record.key)
      if (list) list.push(record)
      else byKey.set(record.key, [record])
    }
    const applied: Applied = { reactions: [], deadLetters: [] }
    await Promise.all(
      [...byKey.values()].map(async (records) => {
        for (const record of records) applied.reactions.push(await this.#handleOne(record, applied.deadLetters))
      }),
    )
    return applied
  }

  /** Handles one message; throws (the batch is retried) unless it succeeded or was set aside. */
  async #handleOne(record: Received, deadLetters: RawRecord[]): Promise<Reaction> {
    const { handle, topic } = this.#options
    const message = decodeMessage(topic, record.value)
    if (!message) return this.#setAside(record, 'malformed message, or a type this topic does not carry', 1, deadLetters)
    metrics.consumerLag.observe({ topic: record.topic, partition: record.partition }, (Date.now() - Number(record.timestamp)) / 1000)
    try {
      const reaction = tracing() ? await handleInSpan(handle, record, message) : await handle(message)
      this.#poison.passed(record.topic, record.partition, record.offset)
      return reaction
    } catch (err) {
      if (!isMessageFault(err)) throw err
      const attempts = this.#poison.failed(record.topic, record.partition, record.offset)
      if (attempts < POISON_ATTEMPTS) throw err
      return this.#setAside(record, (err as Error).message, attempts, deadLetters)
    }
  }

  /** Dead-letters a message; the service may react (e.g. refuse a command, so its saga ends). */
  async #setAside(record: Received, error: string, attempts: number, deadLetters: RawRecord[]): Promise<Reaction> {
    const { logger, clientId, onDeadLetter } = this.#options
    const envelope = decodeEnvelope(record.value)
    metrics.deadLetters.inc({ topic: record.topic })
    logger.error(
      { topic: record.topic, partition: record.partition, offset: String(record.offset), sagaId: envelope?.sagaId, orderId: envelope?.orderId, type: envelope?.type, err: error, attempts },
      'message set aside on the dead-letter topic',
    )
    const { topic, partition, key, value } = record
    deadLetters.push(deadLetterRecord({ topic, partition, offset: String(record.offset), key, value, error, attempts, instance: clientId, at: Date.now() }))
    return envelope && onDeadLetter ? onDeadLetter(envelope, error) : { send: [] }
  }

  /** Announces what a durable batch did (replies published, outcomes handed over), then marks its offsets for the next commit. */
  async #announce(batch: Received[], { reactions, deadLetters }: Applied, offsets: OffsetCommitter): Promise<void> {
    for (const reaction of reactions) reaction.announce?.()
    try {
      await this.#options.publisher.publish(reactions.flatMap((r) => r.send), deadLetters)
    } catch (err) {
      // Only a closing publisher gives up; the uncommitted batch is redelivered to whoever consumes next.
      this.#options.logger.warn({ err: (err as Error).message }, 'replies not published, offsets not committed')
      return
    }
    offsets.markDone(batch)
  }
}

/** Handles one message inside its consumer span; its replies are sent on behalf of that span. */
async function handleInSpan<T extends Topic>(handle: MessageHandler<T>, record: Received, message: TopicMessages[T]): Promise<Reaction> {
  const attributes = {
    [Attr.messagingSystem]: 'kafka',
    [Attr.messagingOperation]: 'process',
    [Attr.destination]: record.topic,
    [Attr.partition]: String(record.partition),
    [Attr.offset]: Number(record.offset),
    ...messageAttributes(message),
  }
  const started = startSpan(SpanName.process(record.topic), SpanKind.CONSUMER, attributes, contextFromKafkaHeaders(record.headers))
  try {
    const reaction = await context.with(started.context, () => handle(message))
    for (const outgoing of reaction.send) outgoing.trace = started.context
    endSpan(started.span)
    return reaction
  } catch (err) {
    endSpan(started.span, err)
    throw err
  }
}
