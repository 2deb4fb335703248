import assert from 'node:assert/strict'
import { test } from 'node:test'
import { commandAt, decide, START, type Position } from './runner.js'
import { checkoutSaga, type CheckoutData } from './saga.js'

const data: CheckoutData = { sagaId: 's1', orderId: 'o1', origin: 'order-1', userId: 'u1', items: [['i1', 2]], total: 10 }

function walk(replies: [string, string?][]): Position[] {
  const positions: Position[] = [START]
  for (const [reply, reason] of replies) {
    const next = decide(checkoutSaga, positions.at(-1)!, reply, reason)
    assert.ok(next, `reply ${reply} should move the saga from ${JSON.stringify(positions.at(-1))}`)
    positions.push(next)
  }
  return positions
}

test('a successful checkout reserves stock, charges payment, marks the order paid', () => {
  const positions = walk([['StockReserved'], ['PaymentCharged']])
  assert.deepEqual(positions.at(-1), { phase: 'done', step: 1 })
  const commands = positions.map((p) => commandAt(checkoutSaga, p, data).message.type)
  assert.deepEqual(commands, ['ReserveStock', 'ChargePayment', 'MarkOrderPaid'])
  assert.deepEqual(commandAt(checkoutSaga, START, data), {
    topic: 'stock.commands',
    message: { type: 'ReserveStock', sagaId: 's1', orderId: 'o1', items: [['i1', 2]] },
  })
})

test('a refused payment returns the stock, then cancels the checkout with the reason', () => {
  const positions = walk([['StockReserved'], ['PaymentRejected', 'INSUFFICIENT_CREDIT'], ['StockReleased']])
  const commands = positions.map((p) => commandAt(checkoutSaga, p, data).message)
  assert.deepEqual(
    commands.map((c) => c.type),
    ['ReserveStock', 'ChargePayment', 'ReleaseStock', 'CancelCheckout'],
  )
  assert.equal((commands[3] as { reason: string }).reason, 'INSUFFICIENT_CREDIT')
  assert.deepEqual(positions.at(-1), { phase: 'done', step: 0, reason: 'INSUFFICIENT_CREDIT' })
})

test('refused stock compensates nothing and cancels at once', () => {
  const positions = walk([['StockRejected', 'OUT_OF_STOCK']])
  assert.deepEqual(positions[1], { phase: 'done', step: 0, reason: 'OUT_OF_STOCK' })
  assert.equal(commandAt(checkoutSaga, positions[1]!, data).message.type, 'CancelCheckout')
})

test('duplicate, late and foreign replies do not move a saga', () => {
  const charging: Position = { phase: 'forward', step: 1 }
  assert.equal(decide(checkoutSaga, charging, 'StockReserved'), undefined)
  assert.equal(decide(checkoutSaga, charging, 'StockReleased'), undefined)
  assert.equal(decide(checkoutSaga, { phase: 'compensating', step: 0, reason: 'X' }, 'PaymentRejected'), undefined)
  assert.equal(decide(checkoutSaga, { phase: 'done', step: 1 }, 'PaymentCharged'), undefined)
})

test('a finished saga names its final command again, so a repeated request learns the outcome', () => {
  assert.equal(commandAt(checkoutSaga, { phase: 'done', step: 1 }, data).message.type, 'MarkOrderPaid')
  const cancelled = commandAt(checkoutSaga, { phase: 'done', step: 0, reason: 'OUT_OF_STOCK' }, data).message
  assert.deepEqual(cancelled, { type: 'CancelCheckout', sagaId: 's1', orderId: 'o1', origin: 'order-1', reason: 'OUT_OF_STOCK' })
})
