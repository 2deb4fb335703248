// What the order service consumes: the participants' replies to its checkout sagas, each moving one saga.
import type { MessageHandler } from '../../platform/idempotent-consumer.js'
import type { Topics } from '../../platform/messages.js'
import type { CheckoutSagas } from './checkouts.js'

export function orderHandlers(sagas: CheckoutSagas): MessageHandler<typeof Topics.saga> {
  return (reply) => sagas.onReply(reply)
}
