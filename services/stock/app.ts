// The stock service: items with a price and a stock level; takes and returns stock for checkout sagas.
import { Topics } from '../../platform/messages.js'
import type { ServiceDefinition } from '../../platform/service.js'
import { stockDeadLetters, stockHandlers } from './handlers.js'
import { stockRoutes } from './routes.js'
import { createStockStore, type StockStore } from './store.js'

export const stockService: ServiceDefinition<StockStore, typeof Topics.stock> = {
  name: 'stock',
  setup: createStockStore,
  routes: stockRoutes,
  consumes: { topic: Topics.stock, handler: stockHandlers, deadLetter: stockDeadLetters },
}
