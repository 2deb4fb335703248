// Message contracts of the checkout saga, grouped by the topic that carries them.
// Commands are imperative (ReserveStock), replies past tense (StockReserved). Every message carries the
// saga id and the order id (the partition key, so one order's messages stay in order); the idempotency
// key of a command is its type plus its saga id.
import type { Context } from '@opentelemetry/api'

export type Line = [itemId: string, quantity: number]

export const Topics = {
  /** Orchestrator inbox: checkout requests from order, replies from every participant. */
  saga: 'checkout.saga',
  stock: 'stock.commands',
  payment: 'payment.commands',
  order: 'order.commands',
} as const

export const allTopics = Object.values(Topics)

interface Envelope<T extends string> {
  type: T
  sagaId: string
  orderId: string
}

// --- checkout.saga (to the orchestrator) ---
export interface CheckoutRequested extends Envelope<'CheckoutRequested'> {
  /** The order replica whose HTTP request waits for the outcome ('' when unknown). */
  origin: string
  userId: string
  items: Line[]
  total: number
}
export type StockReply = Envelope<'StockReserved' | 'StockReleased'> | Rejection<'StockRejected'>
export type PaymentReply = Envelope<'PaymentCharged' | 'PaymentRefunded'> | Rejection<'PaymentRejected'>
export interface Rejection<T extends string> extends Envelope<T> {
  reason: string
}
export type SagaInbox = CheckoutRequested | StockReply | PaymentReply

// --- stock.commands ---
export interface StockCommand extends Envelope<'ReserveStock' | 'ReleaseStock'> {
  items: Line[]
}

// --- payment.commands ---
export interface PaymentCommand extends Envelope<'ChargePayment' | 'RefundPayment'> {
  userId: string
  amount: number
}

// --- order.commands (a saga's outcome; awaits no reply) ---
export type OrderCommand = (Envelope<'MarkOrderPaid'> | Rejection<'CancelCheckout'>) & { origin: string }

export type AnyMessage = SagaInbox | StockCommand | PaymentCommand | OrderCommand

export interface Outgoing {
  topic: string
  message: AnyMessage
  /** In process only, when tracing: the span this message is sent on behalf of (e.g. the consumed message it answers). */
  trace?: Context
}

export function isEnvelope(value: unknown): value is AnyMessage {
  const v = value as Partial<Envelope<string>> | null
  return typeof v === 'object' && v !== null && typeof v.type === 'string' && typeof v.sagaId === 'string' && typeof v.orderId === 'string'
}
