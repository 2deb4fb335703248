// The order service: orders and their lines; runs the checkout saga of each order and answers the
// checkout request with its outcome.
import { Topics } from '../../platform/messages.js'
import type { ServiceDefinition } from '../../platform/service.js'
import { startSweeper } from '../../platform/sweeper.js'
import { CheckoutSagas } from './checkouts.js'
import { orderHandlers } from './handlers.js'
import { orderRoutes } from './routes.js'
import { StockClient } from './stock-client.js'
import { OrderStore } from './store.js'
import { CheckoutWaiters } from './waiters.js'

export interface OrderService {
  store: OrderStore
  waiters: CheckoutWaiters
  sagas: CheckoutSagas
  stock: StockClient
}

export const orderService: ServiceDefinition<OrderService, typeof Topics.saga> = {
  name: 'order',
  async setup(context) {
    const { redis, config, logger } = context
    const store = new OrderStore(redis, config)
    const waiters = new CheckoutWaiters(redis, store, config.instanceId, logger)
    await waiters.start()
    return { store, waiters, sagas: new CheckoutSagas(store, waiters, context), stock: new StockClient(config.stockUrl, config.requestDeadlineMs) }
  },
  routes: orderRoutes,
  consumes: { topic: Topics.saga, handler: ({ sagas }) => orderHandlers(sagas), deadLetter: ({ sagas }) => (reply) => sagas.abort(reply) },
  // A saga whose replica died between two steps stops moving: one replica at a time re-sends the
  // current command of every saga that has not moved for a while (participants answer repeats from
  // their records, and a late reply moves nothing).
  background: ({ waiters, sagas }, { redis, logger }) => [
    waiters,
    startSweeper({ redis, name: 'order-stale-checkouts', intervalMs: 1000, logger, sweep: () => sagas.resumeStale() }),
  ],
}
