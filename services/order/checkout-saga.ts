// The checkout saga, read top to bottom: reserve stock → charge payment; then the order is paid.
// Each step has the reply that moves it on, the reply that refuses it, and its compensation beside it.
// Step names are stable: they are persisted on the order, logged, and used in span and metric names.
// The order service runs this saga itself (checkouts.ts): starting it and recording its outcome change
// the order in the same Redis script as the saga's own state, so neither is a message.
import { Topics, type Line, type Outgoing, type SagaReply } from '../../platform/messages.js'
import type { SagaDefinition } from '../../platform/saga.js'

export interface CheckoutData {
  sagaId: string
  orderId: string
  userId: string
  items: Line[]
  total: number
}

const ids = ({ sagaId, orderId }: CheckoutData) => ({ sagaId, orderId })

export const checkoutSaga: SagaDefinition<CheckoutData> = {
  steps: [
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
  ],
}

/**
 * The compensation of the step a success reply completed, built from the reply alone: for a saga the
 * order service does not know (its start was lost with a Redis failover after the command went out).
 * Undefined for any other reply.
 */
export function compensationOfReply(reply: SagaReply): Outgoing | undefined {
  const step = checkoutSaga.steps.find((s) => s.succeeded === reply.type)
  if (!step?.compensate) return undefined
  const data: CheckoutData = { sagaId: reply.sagaId, orderId: reply.orderId, userId: '', items: [], total: 0 }
  if (reply.type === 'StockReserved') data.items = reply.items
  if (reply.type === 'PaymentCharged') [data.userId, data.total] = [reply.userId, reply.amount]
  return step.compensate(data)
}
