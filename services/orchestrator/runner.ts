// Runs sagas: decides each move from the persisted position and the reply that came in, persists it
// with a guarded transition, and names the one command to send next. Compensations run in reverse
// order of the steps that completed. What the checkout does is in saga.ts; how it is kept moving
// across crashes (persistence, resume, re-sending) is here and in store.ts.
import type { Outgoing, SagaInbox } from '../../platform/messages.js'

type ReplyType = SagaInbox['type']

export interface SagaStep<Data> {
  name: string
  invoke(data: Data): Outgoing
  succeeded: ReplyType
  refused?: ReplyType
  compensate?(data: Data): Outgoing
  compensated?: ReplyType
}

export interface SagaDefinition<Data> {
  steps: SagaStep<Data>[]
  /** Announces success once every step succeeded; awaits no reply. */
  onSuccess(data: Data): Outgoing
  /** Announces failure once every completed step is compensated; awaits no reply. */
  onFailure(data: Data, reason: string): Outgoing
}

export type Phase = 'forward' | 'compensating' | 'done'

export interface Position {
  phase: Phase
  step: number
  /** Why the saga failed; set once a step was refused. */
  reason?: string
}

export const START: Position = { phase: 'forward', step: 0 }

/** The position after `reply`, or undefined when the reply does not move the saga (duplicate, late, foreign). */
export function decide<Data>(saga: SagaDefinition<Data>, at: Position, reply: string, reason?: string): Position | undefined {
  const step = saga.steps[at.step]
  switch (at.phase) {
    case 'forward':
      if (reply === step?.succeeded) return at.step + 1 < saga.steps.length ? { phase: 'forward', step: at.step + 1 } : { phase: 'done', step: at.step }
      if (reply === step?.refused) return compensateFrom(saga, at.step - 1, reason ?? 'REFUSED')
      return undefined
    case 'compensating':
      return reply === step?.compensated ? compensateFrom(saga, at.step - 1, at.reason ?? 'REFUSED') : undefined
    case 'done':
      return undefined
  }
}

/** Compensates the completed steps from `step` down; then the saga is done, failed with `reason`. */
function compensateFrom<Data>(saga: SagaDefinition<Data>, step: number, reason: string): Position {
  for (let i = step; i >= 0; i--) if (saga.steps[i]!.compensate) return { phase: 'compensating', step: i, reason }
  return { phase: 'done', step: 0, reason }
}

/** The command the saga sends at this position; when done, its outcome (again, if asked twice). */
export function commandAt<Data>(saga: SagaDefinition<Data>, at: Position, data: Data): Outgoing {
  switch (at.phase) {
    case 'forward':
      return saga.steps[at.step]!.invoke(data)
    case 'compensating':
      return saga.steps[at.step]!.compensate!(data)
    case 'done':
      return at.reason === undefined ? saga.onSuccess(data) : saga.onFailure(data, at.reason)
  }
}

/** Where in the saga a position is, for logs and spans. */
export function describePosition<Data>(saga: SagaDefinition<Data>, at: Position): string {
  if (at.phase === 'done') return at.reason === undefined ? 'done (paid)' : `done (${at.reason})`
  return `${at.phase} ${saga.steps[at.step]!.name}`
}
