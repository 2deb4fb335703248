// The saga runner's rules, pure: from a saga's persisted position and the reply that came in, the next
// position, and the one command to send there. Compensations run in reverse order of the steps that
// completed. Positions name their step (never an index), so that a step added to a definition cannot
// misroute a saga persisted before the change. What a saga does is its definition (e.g. the order
// service's checkout-saga.ts); persisting positions and resuming stalled sagas is the host's store.
import type { Outgoing, SagaReply } from './messages.js'

type ReplyType = SagaReply['type']

export interface SagaStep<Data> {
  /** Stable: persisted, logged and used in span and metric names. */
  name: string
  invoke(data: Data): Outgoing
  succeeded: ReplyType
  refused?: ReplyType
  compensate?(data: Data): Outgoing
  compensated?: ReplyType
}

export interface SagaDefinition<Data> {
  steps: SagaStep<Data>[]
}

/** Where a saga is: running a step forward, compensating one, or done (failed when it has a reason). */
export type Position = { phase: 'forward' | 'compensating'; step: string; reason?: string } | { phase: 'done'; reason?: string }

/** Where every saga starts. */
export function startOf<Data>(saga: SagaDefinition<Data>): Position {
  return { phase: 'forward', step: saga.steps[0]!.name }
}

/** The position after `reply`, or undefined when the reply does not move the saga (duplicate, late, foreign). */
export function decide<Data>(saga: SagaDefinition<Data>, at: Position, reply: string, reason?: string): Position | undefined {
  if (at.phase === 'done') return undefined
  const index = saga.steps.findIndex((s) => s.name === at.step)
  const step = saga.steps[index]
  if (!step) return undefined
  if (at.phase === 'forward') {
    if (reply === step.succeeded) return index + 1 < saga.steps.length ? { phase: 'forward', step: saga.steps[index + 1]!.name } : { phase: 'done' }
    if (reply === step.refused) return compensateFrom(saga, index - 1, reason ?? 'REFUSED')
    return undefined
  }
  return reply === step.compensated ? compensateFrom(saga, index - 1, at.reason ?? 'REFUSED') : undefined
}

/**
 * Where a saga goes when the reply to its current forward step could not be handled (it was set aside
 * as a dead letter): that step's outcome is unknown, so it is compensated too (a compensation of a step
 * that never ran fences it off), then the completed ones; the saga then fails with `reason`. Undefined
 * when `reply` is not one the step awaits (a stray message does not end a healthy saga), and during a
 * compensation, which must finish.
 */
export function abortAt<Data>(saga: SagaDefinition<Data>, at: Position, reply: string, reason: string): Position | undefined {
  if (at.phase !== 'forward') return undefined
  const index = saga.steps.findIndex((s) => s.name === at.step)
  const step = saga.steps[index]
  if (!step || (reply !== step.succeeded && reply !== step.refused)) return undefined
  return step.compensate ? { phase: 'compensating', step: step.name, reason } : compensateFrom(saga, index - 1, reason)
}

/** Compensates the completed steps from index `from` down; then the saga is done, failed with `reason`. */
function compensateFrom<Data>(saga: SagaDefinition<Data>, from: number, reason: string): Position {
  for (let i = from; i >= 0; i--) if (saga.steps[i]!.compensate) return { phase: 'compensating', step: saga.steps[i]!.name, reason }
  return { phase: 'done', reason }
}

/** The command the saga sends at this position; none once it is done (or at a step it does not know). */
export function commandAt<Data>(saga: SagaDefinition<Data>, at: Position, data: Data): Outgoing | undefined {
  if (at.phase === 'done') return undefined
  const step = saga.steps.find((s) => s.name === at.step)
  return at.phase === 'forward' ? step?.invoke(data) : step?.compensate?.(data)
}

/** Where in the saga a position is, for logs, spans and metrics: "forward reserve-stock", "done", "done (OUT_OF_STOCK)". */
export function describePosition(at: Position): string {
  if (at.phase === 'done') return at.reason === undefined ? 'done' : `done (${at.reason})`
  return `${at.phase} ${at.step}`
}
