// What the order service does with a saga's outcome (no reply: the saga is done), and the request it sends.
import type { MessageHandler } from '../../platform/idempotent-consumer.js'
import { Topics, type OrderCommand, type Outgoing } from '../../platform/messages.js'
import { failedOutcome, PAID } from './domain.js'
import type { OrderStore, StartedCheckout } from './store.js'
import type { CheckoutWaiters } from './waiters.js'

export function orderHandlers(store: OrderStore, waiters: CheckoutWaiters): MessageHandler {
  return async (message) => {
    const { sagaId, orderId } = message
    const command = message as OrderCommand
    if (command.type !== 'MarkOrderPaid' && command.type !== 'CancelCheckout') return []
    const outcome = await store.finishCheckout(orderId, sagaId, command.type === 'MarkOrderPaid' ? PAID : failedOutcome(command.reason))
    // Announcing before this batch is replicated is safe: the command is committed in Kafka only once
    // it is, so a lost write is redone from the redelivered command, with the same outcome.
    await waiters.deliver(command.origin, sagaId, outcome)
    return []
  }
}

export function checkoutRequested({ orderId, sagaId, userId, items, total }: StartedCheckout, origin: string): Outgoing {
  return { topic: Topics.saga, message: { type: 'CheckoutRequested', sagaId, orderId, origin, userId, items, total } }
}
