import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeLines, encodeLines, failedOutcome, newSagaId, PAID, refusalOf, sagaStartedAt } from './domain.js'

test('lines survive encoding', () => {
  const lines: [string, number][] = [
    ['a-1', 2],
    ['b_2', 9007199254740991],
  ]
  assert.deepEqual(decodeLines(encodeLines(lines)), lines)
  assert.deepEqual(decodeLines(''), [])
})

test('a failed outcome becomes a 4xx with its reason; a paid one none', () => {
  assert.equal(refusalOf(PAID, 'o1'), undefined)
  const outOfStock = refusalOf(failedOutcome('OUT_OF_STOCK'), 'o1')
  assert.equal(outOfStock?.status, 409)
  assert.match(outOfStock!.message, /OUT_OF_STOCK/)
  assert.equal(refusalOf(failedOutcome('NOT_FOUND'), 'o1')?.status, 404)
  assert.equal(refusalOf(failedOutcome('SOMETHING_NEW'), 'o1')?.status, 400)
})

test('a saga id is a version 7 UUID that tells when its saga started', () => {
  const now = Date.now()
  const id = newSagaId(now)
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.equal(sagaStartedAt(id), now)
  assert.notEqual(newSagaId(now), id)
  assert.equal(sagaStartedAt(crypto.randomUUID()), undefined, 'a version 4 UUID has no time')
})
