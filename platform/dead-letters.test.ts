import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeEnvelope, isMessageFault, PoisonCounter } from './dead-letters.js'

test('an envelope is read leniently: the ids that end a saga, or nothing', () => {
  assert.deepEqual(decodeEnvelope('{"type":"ReserveStock","sagaId":"s","orderId":"o","replyPartition":2,"items":"garbage"}'), {
    type: 'ReserveStock',
    sagaId: 's',
    orderId: 'o',
    replyPartition: 2,
  })
  assert.deepEqual(decodeEnvelope('{"sagaId":"s","orderId":"o","replyPartition":-1}'), { type: '', sagaId: 's', orderId: 'o' })
  for (const bad of ['', 'not json', 'null', '[]', '{"sagaId":"s"}', '{"sagaId":"","orderId":"o"}', '{"sagaId":1,"orderId":"o"}']) {
    assert.equal(decodeEnvelope(bad), undefined, bad)
  }
})

test("a script's runtime error or a handler bug is the message's fault; a connection or failover error is not", () => {
  assert.equal(isMessageFault(new TypeError("Cannot read properties of undefined (reading 'map')")), true)
  assert.equal(isMessageFault(new Error('ERR user_script:12: attempt to compare nil with number script: abc')), true)
  assert.equal(isMessageFault(new Error('ERR Error running script (call to f_1): @user_script:3: bad argument')), true)
  for (const transient of ['Connection is closed.', 'READONLY You can\'t write against a read only replica.', 'LOADING Redis is loading the dataset in memory', 'WAIT: 0 of 1 replicas acknowledged']) {
    assert.equal(isMessageFault(new Error(transient)), false, transient)
  }
  assert.equal(isMessageFault('a string'), false)
  // What Redis 7 answers a script's write on a master without its replicas (min-replicas-to-write).
  assert.equal(isMessageFault(new Error('NOREPLICAS Not enough good replicas to write. script: 88c9238, on @user_script:1.')), false)
  assert.equal(isMessageFault(new Error("READONLY You can't write against a read only replica. script: 88c9238, on @user_script:1.")), false)
})

test('failures are counted per message until it passes', () => {
  const counter = new PoisonCounter()
  assert.equal(counter.failed('t', 0, 5n), 1)
  assert.equal(counter.failed('t', 0, 5n), 2)
  assert.equal(counter.failed('t', 1, 5n), 1, 'another partition is another message')
  counter.passed('t', 0, 5n)
  assert.equal(counter.failed('t', 0, 5n), 1, 'a message that passed starts over')
})
