// The saga orchestrator: consumes checkout requests and participants' replies, moves each saga one
// guarded step at a time, and re-sends the current command of sagas that stopped moving.
// Each transition is a span named after the step it enters; step latencies and outcomes are metrics.
import type { Logger } from '../../platform/logger.js'
import { Topics, type AnyMessage, type CheckoutRequested, type Outgoing } from '../../platform/messages.js'
import { metrics } from '../../platform/metrics.js'
import type { ServiceDefinition } from '../../platform/service.js'
import { startSweeper } from '../../platform/sweeper.js'
import { Attr, inSpan, SpanKind, SpanName, tracing } from '../../platform/telemetry.js'
import { setRecent } from './recent.js'
import { commandAt, decide, describePosition, START, type Position } from './runner.js'
import { checkoutSaga } from './saga.js'
import { SagaStore } from './store.js'

export const orchestratorService: ServiceDefinition<SagaStore> = {
  name: 'orchestrator',
  setup: ({ redis, config }) => new SagaStore(redis, config),
  consumes: { topics: [Topics.saga], handler: (store, { logger }) => (message) => handle(store, logger, message) },
  background: (store, { redis, config, logger, publisher }) => [
    startSweeper({
      redis,
      name: 'orchestrator-stale-sagas',
      intervalMs: 1000,
      logger,
      async sweep() {
        const resend: Outgoing[] = []
        for (const sagaId of await store.claimStale(Date.now() - config.staleAfterMs, 500)) {
          const state = await store.load(sagaId, true)
          if (!state) continue
          logger.warn({ sagaId, orderId: state.data.orderId, at: describePosition(checkoutSaga, state.position) }, 'resuming stale saga')
          resend.push(commandAt(checkoutSaga, state.position, state.data))
        }
        await publisher.publish(resend)
      },
    }),
  ],
}

async function handle(store: SagaStore, logger: Logger, message: AnyMessage): Promise<Outgoing[]> {
  const { sagaId, orderId } = message
  if (message.type === 'CheckoutRequested') {
    const { type: _type, ...data } = message as CheckoutRequested
    if (await transition(message, START, () => store.create(data, START))) {
      stepClock.start(sagaId)
      return [commandAt(checkoutSaga, START, data)]
    }
    // A repeated request: a finished saga tells the order its outcome again; a running one goes on.
    metrics.idempotentReplays.inc({ operation: message.type })
    const state = await store.load(sagaId, true)
    return state?.position.phase === 'done' ? [commandAt(checkoutSaga, state.position, state.data)] : []
  }
  const reason = 'reason' in message ? message.reason : undefined
  // The cached position first; if the reply does not fit it (or Redis disagrees), read Redis once.
  for (const fresh of [false, true]) {
    const state = await store.load(sagaId, fresh)
    if (!state) {
      logger.warn({ sagaId, orderId, type: message.type }, 'reply for an unknown saga')
      return []
    }
    const next = decide(checkoutSaga, state.position, message.type, reason)
    if (!next) {
      store.forget(sagaId)
      continue
    }
    if (!(await transition(message, next, () => store.advance(sagaId, state, next)))) continue
    stepClock.lap(sagaId, describePosition(checkoutSaga, state.position), next.phase === 'done')
    logger.debug({ sagaId, orderId, reply: message.type, at: describePosition(checkoutSaga, next) }, 'saga moved')
    if (next.phase === 'done') {
      metrics.sagaOutcomes.inc({ outcome: next.reason ?? 'paid' })
      // A refusal is worth a line; a success is the common case and would flood the log under load.
      if (next.reason) logger.info({ sagaId, orderId, outcome: next.reason }, 'saga failed')
      else logger.debug({ sagaId, orderId }, 'saga paid')
    }
    return [commandAt(checkoutSaga, next, state.data)]
  }
  // A duplicate or late reply: the saga moved on already, and nothing changes.
  metrics.idempotentReplays.inc({ operation: message.type })
  return []
}

/** One guarded move of a saga (true when it moved), traced as a span named after the step it enters. */
function transition(message: AnyMessage, to: Position, move: () => Promise<boolean>): Promise<boolean> {
  if (!tracing()) return move()
  const step = describePosition(checkoutSaga, to)
  const attributes = { [Attr.sagaId]: message.sagaId, [Attr.orderId]: message.orderId, [Attr.sagaStep]: step, [Attr.sagaReply]: message.type }
  return inSpan(SpanName.sagaStep(step), SpanKind.INTERNAL, attributes, move)
}

/**
 * When each saga moved here last, to time its steps: from sending a step's command to the reply that
 * moves it on. In memory and bounded: a saga resumed by another replica has its next step untimed.
 */
class StepClock {
  readonly #since = new Map<string, number>()

  start(sagaId: string): void {
    setRecent(this.#since, sagaId, performance.now(), STEP_CLOCK_LIMIT)
  }

  /** Records the time spent at `step` and starts the next one (or forgets the saga when it is done). */
  lap(sagaId: string, step: string, done: boolean): void {
    const since = this.#since.get(sagaId)
    if (since !== undefined) metrics.sagaStepDuration.observe({ step }, (performance.now() - since) / 1000)
    if (done) this.#since.delete(sagaId)
    else this.start(sagaId)
  }
}

const STEP_CLOCK_LIMIT = 50_000
const stepClock = new StepClock()
