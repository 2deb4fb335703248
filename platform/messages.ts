// Message contracts of the checkout saga, one union per topic.
// The order service runs the saga: it sends commands to the participants (stock, payment), which answer
// on checkout.saga. Commands are imperative (ReserveStock), replies past tense (StockReserved). Every
// message carries the saga id and the order id (the partition key, so one order's messages stay in
// order); the idempotency key of a command is its type plus its saga id.
import type { Context } from '@opentelemetry/api'

export type Line = [itemId: string, quantity: number]

export const Topics = {
  /** The saga's inbox, read by the order service: the participants' replies. */
  saga: 'checkout.saga',
  stock: 'stock.commands',
  payment: 'payment.commands',
} as const

export type Topic = (typeof Topics)[keyof typeof Topics]

export const allTopics: readonly Topic[] = Object.values(Topics)

interface Envelope<T extends string> {
  type: T
  sagaId: string
  orderId: string
}

interface Command<T extends string> extends Envelope<T> {
  /**
   * The checkout.saga partition to answer on: one that the order replica running the saga consumes,
   * so the reply usually finds its saga (and the waiting HTTP request) in that process. Absent: by key.
   */
  replyPartition?: number
}

interface Rejection<T extends string> extends Envelope<T> {
  reason: string
}

// --- stock.commands ---
export interface StockCommand extends Command<'ReserveStock' | 'ReleaseStock'> {
  items: Line[]
}

// --- payment.commands ---
export interface PaymentCommand extends Command<'ChargePayment' | 'RefundPayment'> {
  userId: string
  amount: number
}

// --- checkout.saga ---
// A take's success names what it took, so that a saga the order service lost (a Redis failover can
// lose an acknowledged write) can still be compensated from the reply alone.
export interface StockReserved extends Envelope<'StockReserved'> {
  items: Line[]
}
export interface PaymentCharged extends Envelope<'PaymentCharged'> {
  userId: string
  amount: number
}
export type StockReply = StockReserved | Envelope<'StockReleased'> | Rejection<'StockRejected'>
export type PaymentReply = PaymentCharged | Envelope<'PaymentRefunded'> | Rejection<'PaymentRejected'>
export type SagaReply = StockReply | PaymentReply

export interface TopicMessages {
  'checkout.saga': SagaReply
  'stock.commands': StockCommand
  'payment.commands': PaymentCommand
}

export type AnyMessage = TopicMessages[Topic]

/** A message to publish; `topic` decides what it may carry. */
export type Outgoing = {
  [T in Topic]: {
    topic: T
    message: TopicMessages[T]
    /** Where to put it; by default the partition of its key (the order id). */
    partition?: number
    /** In process only, when tracing: the span this message is sent on behalf of (e.g. the consumed message it answers). */
    trace?: Context
  }
}[Topic]

/** The types each topic carries: what a consumer accepts, anything else is malformed. */
const TYPES: { [T in Topic]: readonly TopicMessages[T]['type'][] } = {
  'checkout.saga': ['StockReserved', 'StockReleased', 'StockRejected', 'PaymentCharged', 'PaymentRefunded', 'PaymentRejected'],
  'stock.commands': ['ReserveStock', 'ReleaseStock'],
  'payment.commands': ['ChargePayment', 'RefundPayment'],
}

const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
const isLine = (value: unknown): value is Line => Array.isArray(value) && value.length === 2 && isText(value[0]) && isCount(value[1])

/** A decoded message of `topic`, or undefined when it is not one (wrong shape, unknown type, bad field). */
export function decodeMessage<T extends Topic>(topic: T, text: string): TopicMessages[T] | undefined {
  let value: Record<string, unknown>
  try {
    value = JSON.parse(text) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || !isText(value.sagaId) || !isText(value.orderId)) return undefined
  if (!(TYPES[topic] as readonly unknown[]).includes(value.type)) return undefined
  if (value.replyPartition !== undefined && !isCount(value.replyPartition)) return undefined
  switch (value.type) {
    case 'ReserveStock':
    case 'ReleaseStock':
    case 'StockReserved':
      if (!Array.isArray(value.items) || !value.items.every(isLine)) return undefined
      break
    case 'ChargePayment':
    case 'RefundPayment':
    case 'PaymentCharged':
      if (!isText(value.userId) || !isCount(value.amount)) return undefined
      break
    case 'StockRejected':
    case 'PaymentRejected':
      if (!isText(value.reason)) return undefined
      break
  }
  return value as unknown as TopicMessages[T]
}
