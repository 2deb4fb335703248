import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Topics } from './messages.js'
import { abortAt, commandAt, decide, describePosition, startOf, type Position, type SagaDefinition } from './saga.js'

// Three fake steps: the middle one has no compensation (nothing to undo), the last one cannot be refused.
const command = (type: 'ReserveStock' | 'ReleaseStock') => () => ({ topic: Topics.stock, message: { type, sagaId: 's', orderId: 'o', items: [] } })
const saga: SagaDefinition<null> = {
  steps: [
    { name: 'first', invoke: command('ReserveStock'), succeeded: 'StockReserved', refused: 'StockRejected', compensate: command('ReleaseStock'), compensated: 'StockReleased' },
    { name: 'second', invoke: command('ReserveStock'), succeeded: 'PaymentCharged', refused: 'PaymentRejected' },
    { name: 'third', invoke: command('ReserveStock'), succeeded: 'PaymentRefunded' },
  ],
}

function walk(replies: [string, string?][]): Position[] {
  const positions: Position[] = [startOf(saga)]
  for (const [reply, reason] of replies) {
    const next = decide(saga, positions.at(-1)!, reply, reason)
    assert.ok(next, `reply ${reply} should move the saga from ${describePosition(positions.at(-1)!)}`)
    positions.push(next)
  }
  return positions
}

test('every step succeeding walks the steps in order, by name, to done', () => {
  assert.deepEqual(walk([['StockReserved'], ['PaymentCharged'], ['PaymentRefunded']]).map(describePosition), [
    'forward first',
    'forward second',
    'forward third',
    'done',
  ])
})

test('a refusal compensates the completed steps in reverse, skipping those with nothing to undo', () => {
  const positions = walk([['StockReserved'], ['PaymentRejected', 'INSUFFICIENT_CREDIT'], ['StockReleased']])
  assert.deepEqual(positions.slice(2), [
    { phase: 'compensating', step: 'first', reason: 'INSUFFICIENT_CREDIT' },
    { phase: 'done', reason: 'INSUFFICIENT_CREDIT' },
  ])
  assert.equal(commandAt(saga, positions[2]!, null)?.message.type, 'ReleaseStock')
  assert.equal(commandAt(saga, positions[3]!, null), undefined, 'a finished saga sends nothing')
})

test('a refusal of the first step ends the saga at once', () => {
  assert.deepEqual(walk([['StockRejected', 'OUT_OF_STOCK']])[1], { phase: 'done', reason: 'OUT_OF_STOCK' })
})

test('duplicate, late and foreign replies, and unknown steps, do not move a saga', () => {
  const second: Position = { phase: 'forward', step: 'second' }
  assert.equal(decide(saga, second, 'StockReserved'), undefined)
  assert.equal(decide(saga, second, 'StockReleased'), undefined)
  assert.equal(decide(saga, { phase: 'compensating', step: 'first', reason: 'X' }, 'PaymentRejected'), undefined)
  assert.equal(decide(saga, { phase: 'done' }, 'PaymentCharged'), undefined)
  assert.equal(decide(saga, { phase: 'forward', step: 'removed-step' }, 'StockReserved'), undefined)
  assert.equal(commandAt(saga, { phase: 'forward', step: 'removed-step' }, null), undefined)
})

test('a position persisted by name survives a step inserted before it', () => {
  const grown: SagaDefinition<null> = { steps: [{ ...saga.steps[0]!, name: 'new-first' }, ...saga.steps] }
  assert.deepEqual(decide(grown, { phase: 'forward', step: 'second' }, 'PaymentCharged'), { phase: 'forward', step: 'third' })
})

test('a reply that could not be handled aborts the saga: its step is compensated too, then the completed ones', () => {
  assert.deepEqual(abortAt(saga, { phase: 'forward', step: 'first' }, 'StockReserved', 'NOT_PROCESSED'), { phase: 'compensating', step: 'first', reason: 'NOT_PROCESSED' })
  // The second step has no compensation: the first one is undone.
  assert.deepEqual(abortAt(saga, { phase: 'forward', step: 'second' }, 'PaymentRejected', 'NOT_PROCESSED'), { phase: 'compensating', step: 'first', reason: 'NOT_PROCESSED' })
  assert.equal(abortAt(saga, { phase: 'forward', step: 'second' }, 'StockReleased', 'NOT_PROCESSED'), undefined, 'a stray reply ends nothing')
  assert.equal(abortAt(saga, { phase: 'compensating', step: 'first', reason: 'X' }, 'StockReleased', 'NOT_PROCESSED'), undefined, 'a compensation must finish')
})
