// What the stock service does with each saga command: one atomic, idempotent script, one reply.
import { counterCommandHandler, counterDeadLetterHandler, type CounterCommands } from '../../participant/saga-handlers.js'
import type { DeadLetterHandler, MessageHandler } from '../../platform/idempotent-consumer.js'
import type { StockCommand, Topics } from '../../platform/messages.js'
import type { StockStore } from './store.js'

const commands: CounterCommands<StockCommand> = {
  take: { command: 'ReserveStock', succeeded: 'StockReserved', refused: 'StockRejected' },
  giveBack: { command: 'ReleaseStock', done: 'StockReleased' },
  lines: (command) => command.items,
  taken: ({ items }) => ({ items }),
}

export function stockHandlers(store: StockStore): MessageHandler<typeof Topics.stock> {
  return counterCommandHandler(store, commands)
}

/** A take refused when set aside, so its saga ends; see counterDeadLetterHandler. */
export function stockDeadLetters(): DeadLetterHandler {
  return counterDeadLetterHandler(commands)
}
