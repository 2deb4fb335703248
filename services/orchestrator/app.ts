// The saga orchestrator: consumes checkout requests and participants' replies, moves each saga one
// guarded step at a time, and re-sends the current command of sagas that stopped moving.
import type { Logger } from '../../platform/logger.js'
import { Topics, type AnyMessage, type CheckoutRequested, type Outgoing } from '../../platform/messages.js'
import type { ServiceDefinition } from '../../platform/service.js'
import { startSweeper } from '../../platform/sweeper.js'
import { commandAt, decide, describePosition, START } from './runner.js'
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
    if (await store.create(data, START)) return [commandAt(checkoutSaga, START, data)]
    // A repeated request: a finished saga tells the order its outcome again; a running one goes on.
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
    if (!(await store.advance(sagaId, state, next))) continue
    logger.debug({ sagaId, orderId, reply: message.type, at: describePosition(checkoutSaga, next) }, 'saga moved')
    if (next.phase === 'done') {
      // A refusal is worth a line; a success is the common case and would flood the log under load.
      if (next.reason) logger.info({ sagaId, orderId, outcome: next.reason }, 'saga failed')
      else logger.debug({ sagaId, orderId }, 'saga paid')
    }
    return [commandAt(checkoutSaga, next, state.data)]
  }
  return []
}
