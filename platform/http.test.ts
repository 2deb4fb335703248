import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AppError } from './errors.js'
import { parseAmount, parseBatchSize, parseId } from './http.js'

test('amounts are non-negative integers that stay exact', () => {
  assert.equal(parseAmount('0', 'amount'), 0)
  assert.equal(parseAmount('42', 'amount'), 42)
  assert.equal(parseAmount('9007199254740991', 'amount'), Number.MAX_SAFE_INTEGER)
  for (const bad of ['-1', '1.5', 'abc', '', '1e3', '9007199254740992', '99999999999999999', ' 1', '0x10']) {
    assert.throws(() => parseAmount(bad, 'amount'), (err: unknown) => err instanceof AppError && err.status === 400, bad)
  }
})

test('ids are short strings of safe characters', () => {
  assert.equal(parseId('0', 'id'), '0')
  assert.equal(parseId('6804afae-7b5c-49e2-a976-f74d82aef235', 'id'), '6804afae-7b5c-49e2-a976-f74d82aef235')
  for (const bad of ['', 'a'.repeat(129), 'a;b', 'a=b', 'a b', '../x']) {
    assert.throws(() => parseId(bad, 'id'), AppError, bad)
  }
})

test('batch sizes are bounded', () => {
  assert.equal(parseBatchSize('100000'), 100_000)
  assert.throws(() => parseBatchSize('1000001'), AppError)
})
