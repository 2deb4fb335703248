// The only file that knows the stock service's Redis keys: item:<id> = {stock, price}.
import { CounterStore } from '../../participant/counter-store.js'
import type { ServiceContext } from '../../platform/service.js'

export type StockStore = CounterStore

export function createStockStore({ redis, config, durable }: ServiceContext): StockStore {
  return new CounterStore(redis, {
    prefix: 'item',
    field: 'stock',
    shortfall: 'OUT_OF_STOCK',
    noun: 'item',
    ttlSeconds: config.idempotencyTtlSeconds,
    durable,
  })
}
