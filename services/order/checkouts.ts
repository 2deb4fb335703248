// Runs the checkout sagas of this order replica: starts one per checkout request, moves it one guarded
// step per participant reply, ends it by recording the outcome on the order, and resumes sagas that
// stopped moving (their replica died between two steps). What the checkout does is checkout-saga.ts;
// the rules of moving are platform/saga.ts; persistence is store.ts. Each move is a span named after
// the position it enters; step latencies and outcomes are metrics.
import { AppError } from '../../platform/errors.js'
import type { Reaction } from '../../platform/idempotent-consumer.js'
import { Topics, type Outgoing, type SagaReply } from '../../platform/messages.js'
import { metrics } from '../../platform/metrics.js'
import type { Envelope } from '../../platform/dead-letters.js'
import { abortAt, commandAt, decide, describePosition, startOf, type Position } from '../../platform/saga.js'
import type { ServiceContext } from '../../platform/service.js'
import { Attr, inSpan, SpanKind, SpanName, tracing } from '../../platform/telemetry.js'
import { checkoutSaga, compensationOfReply, type CheckoutData } from './checkout-saga.js'
import { failedOutcome, newSagaId, PAID, sagaStartedAt, type Outcome } from './domain.js'
import { setRecent } from './recent.js'
import type { OrderStore } from './store.js'
import type { CheckoutWaiters } from './waiters.js'

/** Sagas this replica drives, so a reply needs no read; Redis stays the truth (every move is guarded). */
interface Running {
  data: CheckoutData
  position: Position
  /** When this replica moved the saga to its position (performance.now()), to time the step; unknown for a saga read from Redis. */
  since?: number
}

const CACHE_LIMIT = 50_000
const FIRST_STEP = checkoutSaga.steps[0]!.name

export class CheckoutSagas {
  readonly #running = new Map<string, Running>()
  #nextPartition = 0

  constructor(
    private readonly store: OrderStore,
    private readonly waiters: CheckoutWaiters,
    private readonly context: ServiceContext,
  ) {
    metrics.idempotentReplays.inc({ operation: 'checkout' }, 0)
    for (const step of checkoutSaga.steps) metrics.lostSagaCompensations.inc({ reply: step.succeeded }, 0)
  }

  /**
   * Starts the order's saga (or joins the one this idempotency key started) and resolves with its
   * outcome, or undefined when none came within the configured wait.
   */
  async checkout(orderId: string, idempotencyKey: string | undefined): Promise<Outcome | undefined> {
    const { config, logger, publisher } = this.context
    // A replica whose Redis master is cut off from its replicas (a partition; the master still answers)
    // would start a saga the failover loses, or join one and never see it end, waiting out the gateway's
    // whole try: it refuses at once, changing nothing, and the gateway tries another replica.
    if (!(await this.context.replicating())) {
      throw new AppError('UNAVAILABLE', `writes here do not reach the Redis replicas (a partition or a failover under way): order ${orderId} not checked out here; retry with the same Idempotency-Key`)
    }
    const started = await this.store.beginCheckout(orderId, newSagaId(), idempotencyKey, FIRST_STEP, config.instanceId)
    const outcome = this.waiters.wait(started.sagaId, config.requestDeadlineMs)
    if (started.kind === 'join') {
      const [known] = await this.store.outcomes([started.sagaId])
      if (known) {
        this.waiters.settle(started.sagaId, known)
        return known
      }
      return outcome
    }
    const { kind: _kind, ...data } = started
    const position = startOf(checkoutSaga)
    this.#remember(data, position)
    try {
      // Nothing is asked of a participant before the saga that would undo it is durable.
      await this.context.durable()
      await publisher.publish([this.#command(position, data)!])
    } catch (err) {
      // The saga is recorded as pending: the sweeper sends its command once Redis and Kafka are back.
      logger.warn({ err: (err as Error).message, sagaId: data.sagaId, orderId }, 'checkout started, first command not sent yet')
    }
    return outcome
  }

  /**
   * A participant's reply: the saga's next command, or its end (the outcome goes to the waiting request
   * once durable), or, for a saga this service lost, the step undone.
   */
  async onReply(reply: SagaReply): Promise<Reaction> {
    const { sagaId, orderId } = reply
    const reason = 'reason' in reply ? reply.reason : undefined
    // The cached position first; if the reply does not fit it (or Redis disagrees), read Redis once.
    for (const fresh of [false, true]) {
      const running = fresh ? await this.#load(orderId, sagaId) : this.#running.get(sagaId)
      if (!running) continue
      const next = decide(checkoutSaga, running.position, reply.type, reason)
      if (!next) {
        this.#running.delete(sagaId)
        continue
      }
      const reaction = await this.#traced(reply, next, () => this.#move(running, next))
      if (reaction) return reaction
    }
    const lost = await this.#compensateLost(reply)
    if (lost) return lost
    // A duplicate or late reply: the saga moved on already (or finished), and nothing changes.
    metrics.idempotentReplays.inc({ operation: reply.type })
    return { send: [] }
  }

  /**
   * A step's success for a saga the order has neither running nor finished: its start was lost (Redis
   * acknowledged it, then a failover dropped it) after the command went out. The participant took
   * something nobody will pay for or give back, so the step is compensated from the reply. Only for a
   * saga started within half the idempotency TTL (its id tells when): a finished saga's outcome is kept
   * that long, so such a saga unknown cannot be one that finished. Repeats are harmless: a give-back
   * runs once per saga.
   */
  async #compensateLost(reply: SagaReply): Promise<Reaction | undefined> {
    const compensation = compensationOfReply(reply)
    const startedAt = sagaStartedAt(reply.sagaId)
    if (!compensation || startedAt === undefined || Date.now() - startedAt > (this.context.config.idempotencyTtlSeconds * 1000) / 2) return undefined
    if (await this.store.knowsSaga(reply.orderId, reply.sagaId)) return undefined
    this.context.logger.warn({ sagaId: reply.sagaId, orderId: reply.orderId, reply: reply.type }, 'reply for a saga this service does not know (its start was lost): undoing the step')
    metrics.lostSagaCompensations.inc({ reply: reply.type })
    return { send: [compensation] }
  }

  /**
   * A reply this service set aside as a dead letter: its saga cannot learn what the step did, so it
   * compensates that step and the completed ones, and fails (the client gets 422 NOT_PROCESSED).
   */
  async abort(reply: Envelope): Promise<Reaction> {
    const running = this.#running.get(reply.sagaId) ?? (await this.#load(reply.orderId, reply.sagaId))
    const next = running && abortAt(checkoutSaga, running.position, reply.type, 'NOT_PROCESSED')
    if (!running || !next) return { send: [] }
    this.context.logger.warn({ sagaId: reply.sagaId, orderId: reply.orderId, reply: reply.type }, 'aborting the saga of a reply that could not be handled')
    return (await this.#move(running, next)) ?? { send: [] }
  }

  /** Sends again the current command of every saga that has not moved for `staleAfterMs` (one sweep). */
  async resumeStale(): Promise<void> {
    const { config, logger, publisher } = this.context
    const resend: Outgoing[] = []
    for (const orderId of await this.store.claimStalePending(Date.now() - config.staleAfterMs, 500)) {
      const running = await this.store.runningCheckout(orderId)
      if (!running) {
        await this.store.forgetPending(orderId)
        continue
      }
      logger.warn({ sagaId: running.data.sagaId, orderId, at: describePosition(running.position) }, 'resuming stale saga')
      const command = this.#command(running.position, running.data)
      if (command) resend.push(command)
    }
    await publisher.publish(resend)
  }

  /** One guarded move; undefined when the saga was no longer where this replica saw it. */
  async #move(running: Running, next: Position): Promise<Reaction | undefined> {
    const { data, position } = running
    this.context.logger.debug({ sagaId: data.sagaId, orderId: data.orderId, from: describePosition(position), to: describePosition(next) }, 'saga moving')
    if (next.phase !== 'done') {
      if (!(await this.store.advanceCheckout(data, position, next))) return this.#forget(data.sagaId)
      this.#lap(running)
      this.#remember(data, next)
      return { send: [this.#command(next, data)!] }
    }
    const outcome = next.reason === undefined ? PAID : failedOutcome(next.reason)
    const finish = await this.store.finishCheckout(data, position, outcome)
    if (finish.kind === 'stale') return this.#forget(data.sagaId)
    this.#forget(data.sagaId)
    if (finish.kind === 'replay') return { send: [], announce: () => this.waiters.settle(data.sagaId, finish.outcome) }
    this.#lap(running)
    metrics.sagaOutcomes.inc({ outcome: next.reason ?? 'paid' })
    // A refusal is worth a line; a success is the common case and would flood the log under load.
    if (next.reason) this.context.logger.info({ sagaId: data.sagaId, orderId: data.orderId, outcome: next.reason }, 'checkout failed')
    return { send: [], announce: () => this.waiters.deliver(finish.origin, data.sagaId, outcome) }
  }

  /** The command at `position`, answered on a partition this replica consumes (where the saga is cached). */
  #command(position: Position, data: CheckoutData): Outgoing | undefined {
    const command = commandAt(checkoutSaga, position, data)
    if (!command) return undefined
    const owned = this.context.ownedPartitions()
    if (owned.length > 0 && command.topic !== Topics.saga) command.message.replyPartition = owned[this.#nextPartition++ % owned.length]
    return command
  }

  async #load(orderId: string, sagaId: string): Promise<Running | undefined> {
    const running = await this.store.runningCheckout(orderId, sagaId)
    return running && { data: running.data, position: running.position }
  }

  #remember(data: CheckoutData, position: Position): void {
    setRecent(this.#running, data.sagaId, { data, position, since: performance.now() }, CACHE_LIMIT)
  }

  #forget(sagaId: string): undefined {
    this.#running.delete(sagaId)
    return undefined
  }

  /** Times the step a saga just left: from sending its command to the reply that moved it on. */
  #lap({ position, since }: Running): void {
    if (since !== undefined) metrics.sagaStepDuration.observe({ step: describePosition(position) }, (performance.now() - since) / 1000)
  }

  /** A move, traced as a span named after the position it enters. */
  #traced<T>(reply: SagaReply, to: Position, move: () => Promise<T>): Promise<T> {
    if (!tracing()) return move()
    const step = describePosition(to)
    const attributes = { [Attr.sagaId]: reply.sagaId, [Attr.orderId]: reply.orderId, [Attr.sagaStep]: step, [Attr.sagaReply]: reply.type }
    return inSpan(SpanName.sagaStep(step), SpanKind.INTERNAL, attributes, move)
  }
}
