// The checkout saga, read top to bottom: reserve stock → charge payment → tell the order its outcome.
// Each step has the reply that moves it on, the reply that refuses it, and its compensation beside it.
// Step names are stable: they are persisted and logged.
import { Topics, type CheckoutRequested } from '../../platform/messages.js'

import type { SagaDefinition, SagaStep } from './runner.js'

export type CheckoutData = Omit<CheckoutRequested, 'type'>

const ids = ({ sagaId, orderId }: CheckoutData) => ({ sagaId, orderId })

const checkoutSteps: SagaStep<CheckoutData>[] = [
  {
    name: 'reserve-stock',
    invoke: (d) => ({ topic: Topics.stock, message: { type: 'ReserveStock', ...ids(d), items: d.items } }),
    succeeded: 'StockReserved',
    refused: 'StockRejected',
    compensate: (d) => ({ topic: Topics.stock, message: { type: 'ReleaseStock', ...ids(d), items: d.items } }),
    compensated: 'StockReleased',
  },
  {
    name: 'charge-payment',
    invoke: (d) => ({ topic: Topics.payment, message: { type: 'ChargePayment', ...ids(d), userId: d.userId, amount: d.total } }),
    succeeded: 'PaymentCharged',
    refused: 'PaymentRejected',
    compensate: (d) => ({ topic: Topics.payment, message: { type: 'RefundPayment', ...ids(d), userId: d.userId, amount: d.total } }),
    compensated: 'PaymentRefunded',
  },
]

export const checkoutSaga: SagaDefinition<CheckoutData> = {
  steps: checkoutSteps,
  // The outcome goes to the order service, which records it idempotently and answers the client.
  // It awaits no reply: once it is published the saga is done (a lost publish is recovered because
  // the order service asks again for a checkout that stays pending).
  onSuccess: (d) => ({ topic: Topics.order, message: { type: 'MarkOrderPaid', ...ids(d), origin: d.origin } }),
  onFailure: (d, reason) => ({ topic: Topics.order, message: { type: 'CancelCheckout', ...ids(d), origin: d.origin, reason } }),
}
