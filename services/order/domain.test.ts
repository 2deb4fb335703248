import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeLines, encodeLines, failedOutcome, PAID, refusalOf } from './domain.js'

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
