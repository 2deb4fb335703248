// What the order service does with a saga's outcome (no reply: the saga is done), and the request it sends.
import type { MessageHandler } from '../../platform/idempotent-consumer.js'
import { Topics, type OrderCommand, type Outgoing } from '../../platform/messages.js'
import { failedOutcome, PAID } from './domain.js'
import type { OrderStore, StartedCheckout } from './store.js'

export function orderHandlers(store: OrderStore): MessageHandler {
  return async (message) => {
    const { sagaId, orderId } = message
    const command = message as OrderCommand
    switch (command.type) {
      case 'MarkOrderPaid':
        await store.finishCheckout(orderId, sagaId, PAID)
        return []
      case 'CancelCheckout':
        await store.finishCheckout(orderId, sagaId, failedOutcome(command.reason))
        return []
      default:
        return []
    }
  }
}

export function checkoutRequested({ orderId, sagaId, userId, items, total }: StartedCheckout): Outgoing {
  return { topic: Topics.saga, message: { type: 'CheckoutRequested', sagaId, orderId, userId, items, total } }
}
