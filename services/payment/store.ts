// The only file that knows the payment service's Redis keys: user:<id> = {credit}.
import { CounterStore } from '../../participant/counter-store.js'
import type { ServiceContext } from '../../platform/service.js'

export type PaymentStore = CounterStore

export function createPaymentStore({ redis, config, durable }: ServiceContext): PaymentStore {
  return new CounterStore(redis, {
    prefix: 'user',
    field: 'credit',
    shortfall: 'INSUFFICIENT_CREDIT',
    noun: 'user',
    ttlSeconds: config.idempotencyTtlSeconds,
    durable,
  })
}
