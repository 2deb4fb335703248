// The only file that knows the stock service's Redis keys: item:<id> = {stock, price}.
import type { Config } from '../../platform/config.js'
import { CounterStore } from '../../platform/counters.js'
import type { Redis } from '../../platform/redis.js'

export type StockStore = CounterStore

export function createStockStore(redis: Redis, config: Config): StockStore {
  return new CounterStore(redis, {
    prefix: 'item',
    field: 'stock',
    shortfall: 'OUT_OF_STOCK',
    noun: 'item',
    ttlSeconds: config.idempotencyTtlSeconds,
    redis: config.redis,
  })
}
