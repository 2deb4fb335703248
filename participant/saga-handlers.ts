// How the participant answers saga commands: take or give back on its counter store, reply to the saga.
import type { DeadLetterHandler, Reaction } from '../platform/idempotent-consumer.js'
import { Topics, type PaymentCommand, type SagaReply, type StockCommand } from '../platform/messages.js'
import { metrics } from '../platform/metrics.js'
import type { CounterStore } from './counter-store.js'

type ParticipantCommand = StockCommand | PaymentCommand

/** How a participant's saga commands map onto a counter store (see services/stock and services/payment). */
export interface CounterCommands<Command extends ParticipantCommand> {
  take: { command: Command['type']; succeeded: SagaReply['type']; refused: SagaReply['type'] }
  giveBack: { command: Command['type']; done: SagaReply['type'] }
  lines(command: Command): [string, number][]
  /** What the take's success reply says it took (the fields its compensation needs). */
  taken(command: Command): object
}

/** The reply to a saga command (on the partition the command names). */
function replyTo(command: { sagaId: string; orderId: string; replyPartition?: number }, type: SagaReply['type'], details: object = {}): Reaction {
  const { sagaId, orderId, replyPartition } = command
  return {
    send: [
      {
        topic: Topics.saga,
        message: { type, sagaId, orderId, ...details } as SagaReply,
        ...(replyPartition === undefined ? {} : { partition: replyPartition }),
      },
    ],
  }
}

/**
 * A take command set aside (dead-lettered) is refused, so that its saga ends: the take script checks
 * every counter before it changes one, so a take that failed took nothing. A give-back set aside gets
 * no answer: a compensation must finish, so its saga waits, re-sending it, until the data is mended.
 */
export function counterDeadLetterHandler<Command extends ParticipantCommand>(commands: CounterCommands<Command>): DeadLetterHandler {
  return async (envelope) => (envelope.type === commands.take.command ? replyTo(envelope, commands.take.refused, { reason: 'NOT_PROCESSED' }) : { send: [] })
}

/** The idempotent handler of a counter participant: take or give back, then reply to the saga. */
export function counterCommandHandler<Command extends ParticipantCommand>(store: CounterStore, commands: CounterCommands<Command>): (command: Command) => Promise<Reaction> {
  for (const operation of [commands.take.command, commands.giveBack.command]) metrics.idempotentReplays.inc({ operation }, 0)
  return async (command) => {
    const { type, sagaId } = command
    if (type === commands.take.command) {
      const result = await store.take(type, sagaId, commands.lines(command))
      return result.ok ? replyTo(command, commands.take.succeeded, commands.taken(command)) : replyTo(command, commands.take.refused, { reason: result.reason })
    }
    await store.giveBack(type, commands.take.command, sagaId, commands.lines(command))
    return replyTo(command, commands.giveBack.done)
  }
}
