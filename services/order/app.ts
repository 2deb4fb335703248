// The order service: orders and their lines; starts checkout sagas and answers when they finish.
import { Topics } from '../../platform/messages.js'
import type { ServiceDefinition } from '../../platform/service.js'
import { startSweeper } from '../../platform/sweeper.js'
import { checkoutRequested, orderHandlers } from './handlers.js'
import { orderRoutes } from './routes.js'
import { StockClient } from './stock-client.js'
import { OrderStore } from './store.js'
import { CheckoutWaiters } from './waiters.js'

export interface OrderService {
  store: OrderStore
  waiters: CheckoutWaiters
  stock: StockClient
}

export const orderService: ServiceDefinition<OrderService> = {
  name: 'order',
  async setup({ redis, config, logger }) {
    const store = new OrderStore(redis, config)
    const waiters = new CheckoutWaiters(redis, store, config.instanceId, logger)
    await waiters.start()
    return { store, waiters, stock: new StockClient(config.stockUrl) }
  },
  routes: orderRoutes,
  consumes: { topics: [Topics.order], handler: ({ store, waiters }) => orderHandlers(store, waiters) },
  // A checkout recorded here but never handed to the orchestrator (the process died in between)
  // is handed over again; the orchestrator ignores a saga it already runs.
  background: ({ store, waiters }, { redis, config, logger, publisher }) => [
    waiters,
    startSweeper({
      redis,
      name: 'order-pending-checkouts',
      intervalMs: 1000,
      logger,
      async sweep() {
        const stale = await store.claimStalePending(Date.now() - config.staleAfterMs, 200)
        if (stale.length === 0) return
        logger.warn({ sagaIds: stale.map((s) => s.sagaId) }, 're-sending stale checkout requests')
        // The replica that waited may be gone: its successor finds the outcome by polling.
        await publisher.publish(stale.map((checkout) => checkoutRequested(checkout, '')))
      },
    }),
  ],
}
