// What the payment service does with each saga command: one atomic, idempotent script, one reply.
import { counterCommandHandler, counterDeadLetterHandler, type CounterCommands } from '../../participant/saga-handlers.js'
import type { DeadLetterHandler, MessageHandler } from '../../platform/idempotent-consumer.js'
import type { PaymentCommand, Topics } from '../../platform/messages.js'
import type { PaymentStore } from './store.js'

const commands: CounterCommands<PaymentCommand> = {
  take: { command: 'ChargePayment', succeeded: 'PaymentCharged', refused: 'PaymentRejected' },
  giveBack: { command: 'RefundPayment', done: 'PaymentRefunded' },
  lines: (command) => [[command.userId, command.amount]],
  taken: ({ userId, amount }) => ({ userId, amount }),
}

export function paymentHandlers(store: PaymentStore): MessageHandler<typeof Topics.payment> {
  return counterCommandHandler(store, commands)
}

/** A take refused when set aside, so its saga ends; see counterDeadLetterHandler. */
export function paymentDeadLetters(): DeadLetterHandler {
  return counterDeadLetterHandler(commands)
}
