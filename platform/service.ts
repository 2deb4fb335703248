// Boots one service process: config, tracing, logger, Redis, Kafka publisher, the idempotent consumer
// loop, HTTP (health, Prometheus metrics, the service's routes), background sweepers and, with Sentinel,
// the watch that moves a slow Redis master (slow-master.ts); stops them all on SIGTERM/SIGINT.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { loadConfig, type Config, type ServiceName } from './config.js'
import { AppError } from './errors.js'
import { createHttpApp, guardReads, guardRoutes, type RouteGuard } from './http.js'
import { ConsumerLoop, type DeadLetterHandler, type MessageHandler } from './idempotent-consumer.js'
import { ensureTopics, Publisher } from './kafka.js'
import { createLogger, type Logger } from './logger.js'
import { registry } from './metrics.js'
import type { Topic } from './messages.js'
import { closeRedis, connectRedis, DurabilityBarrier, silentForMs, type Redis } from './redis.js'
import { SlowMasterWatch } from './slow-master.js'
import { startTracing, tracing } from './telemetry.js'

export interface ServiceContext {
  config: Config
  logger: Logger
  redis: Redis
  publisher: Publisher
  /** Waits until the writes made so far on `redis` are durable (replicated when the profile asks). */
  durable(): Promise<void>
  /** False while this replica's writes do not reach the Redis replicas (its master cut off from them). */
  replicating(): Promise<boolean>
  /** The partitions of the consumed topic assigned to this process right now (none while it joins its group). */
  ownedPartitions(): number[]
}

export interface Background {
  stop(): Promise<void> | void
}

export interface ServiceDefinition<State, T extends Topic = Topic> {
  name: ServiceName
  /** Builds the service's own state (stores, waiters) once the connections exist. */
  setup(context: ServiceContext): State | Promise<State>
  routes?(app: FastifyInstance, state: State, context: ServiceContext): void
  /**
   * The topic this service consumes, what it does with each message, and what it does about a message
   * set aside on the dead-letter topic (by default nothing more).
   */
  consumes?: {
    topic: T
    handler(state: State, context: ServiceContext): MessageHandler<T>
    deadLetter?(state: State, context: ServiceContext): DeadLetterHandler
  }
  background?(state: State, context: ServiceContext): Background[]
}

export interface RunningService<State> {
  app: FastifyInstance
  state: State
  context: ServiceContext
  /** The port HTTP listens on (useful when HTTP_PORT=0 picked a free one). */
  port: number
  stop(): Promise<void>
}

export async function startService<State, T extends Topic>(
  definition: ServiceDefinition<State, T>,
  env: Record<string, string | undefined> = process.env,
): Promise<RunningService<State>> {
  const config = loadConfig(env, definition.name)
  // Before anything else: the logger, HTTP routes and Kafka/Redis wrappers check once whether it is on.
  const stopTracing = await startTracing(config.service, config.instanceId)
  const logger = createLogger(config.service, config.instanceId, config.logLevel)
  const redis = connectRedis(config.redis, logger, config.instanceId)
  const publisher = new Publisher(config.kafka, config.instanceId, logger)
  const barrier = new DurabilityBarrier(redis, config.redis.waitReplicas, config.redis.waitTimeoutMs)
  const replicationReview = setInterval(() => void barrier.reviewReplication(), REPLICATION_REVIEW_MS)
  replicationReview.unref()
  let loop: ConsumerLoop<T> | undefined
  const context: ServiceContext = {
    config,
    logger,
    redis,
    publisher,
    durable: () => barrier.wait(),
    replicating: () => barrier.replicating(),
    ownedPartitions: () => loop?.ownedPartitions() ?? [],
  }
  // A broker that is down or frozen at start-up delays the start; it is no reason to exit.
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureTopics(config.kafka, logger)
      break
    } catch (err) {
      logger.warn({ err: (err as Error).message, attempt }, 'Kafka topics not reachable yet, retrying')
      await sleep(Math.min(500 * attempt, 3000))
    }
  }
  const state = await definition.setup(context)

  let ready = false
  const app = createHttpApp(logger, config.requestDeadlineMs)
  guardRoutes(app, refusalWhileRedisSilent(redis, logger))
  guardReads(app, async () => ((await barrier.replicating()) ? undefined : STALE_READ_REFUSAL))
  app.get('/health', async (_request, reply) => (ready ? { status: 'ok' } : reply.code(503).send({ status: 'starting' })))
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  definition.routes?.(app, state, context)

  loop = definition.consumes
    ? new ConsumerLoop({
        kafka: config.kafka,
        groupId: config.service,
        clientId: config.instanceId,
        topic: definition.consumes.topic,
        handle: definition.consumes.handler(state, context),
        onDeadLetter: definition.consumes.deadLetter?.(state, context),
        publisher,
        makeDurable: context.durable,
        // What every batch needs: a write to this service's Redis, made durable.
        canWork: async () => {
          await redis.set(`replica-probe:${config.instanceId}`, Date.now(), 'EX', 60)
          await context.durable()
        },
        logger,
      })
    : undefined
  await loop?.start()
  const background = definition.background?.(state, context) ?? []
  if (config.redis.sentinels) {
    const watch = new SlowMasterWatch(config.redis, logger, config.instanceId)
    watch.start()
    background.push(watch)
  }
  // A deep accept queue: a burst of new gateway connections must not time out (nginx gave 504s at 1 s).
  await app.listen({ host: config.httpHost, port: config.httpPort, backlog: 4096 })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.httpPort
  ready = true
  logger.info({ port, metrics: `http://${config.httpHost}:${port}/metrics`, tracing: tracing() }, 'service ready')

  return {
    app,
    state,
    context,
    port,
    async stop() {
      ready = false
      clearInterval(replicationReview)
      await app.close()
      for (const task of background) await task.stop()
      await loop?.stop()
      await publisher.close().catch(() => {})
      closeRedis(redis)
      await stopTracing()
    },
  }
}

/** How often a replica looks whether its Redis master's replicas still follow it (DurabilityBarrier.reviewReplication). */
const REPLICATION_REVIEW_MS = 1000

/**
 * A read from a master its replicas no longer follow may be stale: cut off from the Sentinel majority,
 * it is replaced on the other side, and keeps answering reads as of the cut (a stock replica on its
 * host read 50 units left where the new master had 0, just after the heal).
 */
const STALE_READ_REFUSAL = new AppError('UNAVAILABLE', "this replica's Redis master is not followed by its replicas (cut off by a partition, or replaced): nothing read here, where it could be stale; retry")

/** Past an ordinary failover: 5-7 s from a master's death until the clients reach the new one. */
const REDIS_SILENCE_LIMIT_MS = 8000

/**
 * A replica cut off from its Redis by a partition (nothing answers, nothing is refused) held every
 * request for the command timeout before its 503. Once the silence outlasts an ordinary failover it
 * answers 503 at once, having done nothing, and the gateway tries another replica. Health and metrics
 * still answer.
 */
function refusalWhileRedisSilent(redis: Redis, logger: Logger): RouteGuard {
  let refusing = false
  return () => {
    const silentMs = silentForMs(redis)
    if (silentMs < REDIS_SILENCE_LIMIT_MS) {
      refusing = false
      return undefined
    }
    if (!refusing) logger.warn({ silentMs }, 'nothing heard from Redis past an ordinary failover: refusing requests until it answers')
    refusing = true
    return new AppError('UNAVAILABLE', `this replica has heard nothing from its Redis for ${(silentMs / 1000).toFixed(1)} s (cut off?): nothing was done here; retry with the same Idempotency-Key`)
  }
}

/** Process entry point: start, stop cleanly on SIGTERM/SIGINT, exit non-zero on a fatal error. */
export function main<State, T extends Topic>(definition: ServiceDefinition<State, T>): void {
  startService(definition)
    .then((service) => {
      const shutdown = () => {
        service.context.logger.info('shutting down')
        service.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        )
      }
      process.once('SIGTERM', shutdown)
      process.once('SIGINT', shutdown)
    })
    .catch((err: Error) => {
      console.error(JSON.stringify({ level: 'fatal', service: definition.name, err: err.message, stack: err.stack }))
      process.exit(1)
    })
  process.on('unhandledRejection', (err) => {
    console.error(JSON.stringify({ level: 'fatal', service: definition.name, err: String(err) }))
    process.exit(1)
  })
}
