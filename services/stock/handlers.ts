// What the stock service does with each saga command: one atomic, idempotent script, one reply.
import { counterCommandHandler } from '../../platform/counters.js'
import type { MessageHandler } from '../../platform/idempotent-consumer.js'
import type { StockCommand, Topics } from '../../platform/messages.js'
import type { StockStore } from './store.js'

export function stockHandlers(store: StockStore): MessageHandler<typeof Topics.stock> {
  return counterCommandHandler<StockCommand>(store, {
    take: { command: 'ReserveStock', succeeded: 'StockReserved', refused: 'StockRejected' },
    giveBack: { command: 'ReleaseStock', done: 'StockReleased' },
    lines: (command) => command.items,
  })
}
