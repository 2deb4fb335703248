import assert from 'node:assert/strict'
import { test } from 'node:test'
import { brokersStartingAt } from './config.js'

test('a broker list starts at the given broker, the others following in order', () => {
  const brokers = ['k1:9092', 'k2:9092', 'k3:9092']
  assert.deepEqual(brokersStartingAt(brokers, 0), brokers)
  assert.deepEqual(brokersStartingAt(brokers, 1), ['k2:9092', 'k3:9092', 'k1:9092'])
  assert.deepEqual(brokersStartingAt(brokers, 5), ['k3:9092', 'k1:9092', 'k2:9092'])
  assert.deepEqual(brokersStartingAt(['k1:9092'], 2), ['k1:9092'])
})
