import assert from 'node:assert/strict'
import { test } from 'node:test'
import { commandAt, decide, startOf, type Position } from '../../platform/saga.js'
import { checkoutSaga, type CheckoutData } from './checkout-saga.js'

const data: CheckoutData = { sagaId: 's1', orderId: 'o1', userId: 'u1', items: [['i1', 2]], total: 10 }

test('a checkout reserves the lines, then charges the total, then is done', () => {
  let at: Position = startOf(checkoutSaga)
  assert.deepEqual(commandAt(checkoutSaga, at, data), { topic: 'stock.commands', message: { type: 'ReserveStock', sagaId: 's1', orderId: 'o1', items: [['i1', 2]] } })
  at = decide(checkoutSaga, at, 'StockReserved')!
  assert.deepEqual(commandAt(checkoutSaga, at, data), { topic: 'payment.commands', message: { type: 'ChargePayment', sagaId: 's1', orderId: 'o1', userId: 'u1', amount: 10 } })
  assert.deepEqual(decide(checkoutSaga, at, 'PaymentCharged'), { phase: 'done' })
})

test('a refused payment releases the reserved stock, then fails with the reason', () => {
  const charging: Position = { phase: 'forward', step: 'charge-payment' }
  const releasing = decide(checkoutSaga, charging, 'PaymentRejected', 'INSUFFICIENT_CREDIT')!
  assert.deepEqual(commandAt(checkoutSaga, releasing, data)?.message, { type: 'ReleaseStock', sagaId: 's1', orderId: 'o1', items: [['i1', 2]] })
  assert.deepEqual(decide(checkoutSaga, releasing, 'StockReleased'), { phase: 'done', reason: 'INSUFFICIENT_CREDIT' })
})

test('refused stock takes nothing, so the checkout fails at once', () => {
  assert.deepEqual(decide(checkoutSaga, startOf(checkoutSaga), 'StockRejected', 'OUT_OF_STOCK'), { phase: 'done', reason: 'OUT_OF_STOCK' })
})
