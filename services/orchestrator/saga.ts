// The checkout saga, read top to bottom: each step with the reply that moves it on, the reply that
// refuses it, and its compensation beside it. Step names are stable: they are persisted and logged.
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
  {
    name: 'mark-paid',
    invoke: (d) => ({ topic: Topics.order, message: { type: 'MarkOrderPaid', ...ids(d) } }),
    succeeded: 'OrderPaid',
  },
]

export const checkoutSaga: SagaDefinition<CheckoutData> = {
  steps: checkoutSteps,
  // Once every completed step is compensated, the order is told the checkout failed, and why.
  onFailure: {
    invoke: (d, reason) => ({ topic: Topics.order, message: { type: 'CancelCheckout', ...ids(d), reason } }),
    succeeded: 'CheckoutCancelled',
  },
}
