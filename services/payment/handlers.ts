// What the payment service does with each saga command: one atomic, idempotent script, one reply.
import { counterCommandHandler } from '../../platform/counters.js'
import type { MessageHandler } from '../../platform/idempotent-consumer.js'
import type { PaymentCommand, Topics } from '../../platform/messages.js'
import type { PaymentStore } from './store.js'

export function paymentHandlers(store: PaymentStore): MessageHandler<typeof Topics.payment> {
  return counterCommandHandler<PaymentCommand>(store, {
    take: { command: 'ChargePayment', succeeded: 'PaymentCharged', refused: 'PaymentRejected' },
    giveBack: { command: 'RefundPayment', done: 'PaymentRefunded' },
    lines: (command) => [[command.userId, command.amount]],
  })
}
