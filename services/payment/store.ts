// The only file that knows the payment service's Redis keys: user:<id> = {credit}.
import type { Config } from '../../platform/config.js'
import { CounterStore } from '../../platform/counters.js'
import type { Redis } from '../../platform/redis.js'

export type PaymentStore = CounterStore

export function createPaymentStore(redis: Redis, config: Config): PaymentStore {
  return new CounterStore(redis, {
    prefix: 'user',
    field: 'credit',
    shortfall: 'INSUFFICIENT_CREDIT',
    noun: 'user',
    ttlSeconds: config.idempotencyTtlSeconds,
    redis: config.redis,
  })
}
