// The idempotent consumer loop shared by every service.
// For each batch: every handler runs one atomic Redis script (guard + change + stored reply), then the
// writes are made durable (WAIT for the replica), then the replies are published, then the offsets are
// committed. A crash anywhere in between redelivers the batch; the scripts answer a redelivered message
// with the reply they stored the first time, and change nothing.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Readable } from 'node:stream'
import { createConsumer, type Publisher, type StringConsumer } from './kafka.js'
import type { KafkaConfig } from './config.js'
import type { Logger } from './logger.js'
import { isEnvelope, type AnyMessage, type Outgoing } from './messages.js'

export type MessageHandler = (message: AnyMessage) => Promise<Outgoing[]>

export interface ConsumerLoopOptions {
  kafka: KafkaConfig
  groupId: string
  clientId: string
  topics: string[]
  handle: MessageHandler
  publisher: Publisher
  /** Runs after a batch was applied and before its replies go out (the Redis replication barrier). */
  makeDurable: () => Promise<void>
  logger: Logger
  maxBatch?: number
}

interface Received {
  key: string
  value: string
  topic: string
  partition: number
  offset: bigint
  commit(): void | Promise<void>
}

export class ConsumerLoop {
  readonly #options: ConsumerLoopOptions
  readonly #consumer: StringConsumer
  #stream: { close(): Promise<void> } | undefined
  #running = false
  #stopped: Promise<void> = Promise.resolve()

  constructor(options: ConsumerLoopOptions) {
    this.#options = options
    this.#consumer = createConsumer(options.kafka, options.groupId, options.clientId)
  }

  async start(): Promise<void> {
    const stream = await this.#consumer.consume({
      topics: this.#options.topics,
      mode: 'committed',
      fallbackMode: 'earliest',
      autocommit: false,
    })
    this.#stream = stream
    stream.on('error', (err: Error) => this.#options.logger.error({ err: err.message }, 'consumer stream error'))
    this.#running = true
    this.#stopped = this.#run(stream as unknown as Readable)
  }

  async stop(): Promise<void> {
    this.#running = false
    await this.#stream?.close().catch(() => undefined)
    await this.#consumer.close().catch(() => undefined)
    await this.#stopped
  }

  async #run(stream: Readable): Promise<void> {
    const max = this.#options.maxBatch ?? 500
    const waitReadable = readableSignal(stream)
    while (this.#running) {
      const batch: Received[] = []
      let next: unknown
      while (batch.length < max && (next = stream.read()) !== null) batch.push(next as Received)
      if (batch.length === 0) {
        await waitReadable()
        // A stream that ended while we still run has lost the consumer: let the supervisor restart us.
        if (this.#running && stream.destroyed) throw new Error('consumer stream closed')
        continue
      }
      await this.#processUntilDone(batch)
    }
  }

  /** Handlers are idempotent, so a failed batch is simply run again until it goes through. */
  async #processUntilDone(batch: Received[]): Promise<void> {
    for (let attempt = 1; this.#running || attempt === 1; attempt++) {
      try {
        await this.#process(batch)
        return
      } catch (err) {
        this.#options.logger.error({ err: (err as Error).message, attempt, size: batch.length }, 'batch failed, retrying')
        await sleep(Math.min(100 * attempt, 1000))
      }
    }
  }

  async #process(batch: Received[]): Promise<void> {
    const { handle, publisher, makeDurable, logger } = this.#options
    // Messages of one key (one order) run in order; different keys run concurrently.
    const byKey = new Map<string, Received[]>()
    for (const record of batch) {
      const list = byKey.get(record.key)
      if (list) list.push(record)
      else byKey.set(record.key, [record])
    }
    const replies: Outgoing[] = []
    await Promise.all(
      [...byKey.values()].map(async (records) => {
        for (const record of records) {
          const message = parse(record.value)
          if (!message) {
            logger.error({ topic: record.topic, partition: record.partition, offset: String(record.offset) }, 'skipping malformed message')
            continue
          }
          replies.push(...(await handle(message)))
        }
      }),
    )
    await makeDurable()
    await publisher.publish(replies)
    const lastPerPartition = new Map<string, Received>()
    for (const record of batch) lastPerPartition.set(`${record.topic}:${record.partition}`, record)
    for (const record of lastPerPartition.values()) {
      // A commit lost to a rebalance only means a redelivery, which the handlers absorb.
      await Promise.resolve(record.commit()).catch((err: Error) => logger.warn({ err: err.message }, 'offset commit failed'))
    }
  }
}

function parse(value: string): AnyMessage | undefined {
  try {
    const message: unknown = JSON.parse(value)
    return isEnvelope(message) ? message : undefined
  } catch {
    return undefined
  }
}

/**
 * Resolves when the stream has data again (or closed). The 'readable' listener stays attached for the
 * stream's life: removing the last one makes the stream "unconsumed", and the client stops fetching.
 */
function readableSignal(stream: Readable): () => Promise<void> {
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
