// The rules by which a member counts as cut off from its coordinator, on the events its client emits
// (the consumer-loop integration test freezes a real coordinator).
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { afterEach, beforeEach, mock, test } from 'node:test'
import { FAILING_HEARTBEAT_LIMIT_MS, MEMBER_SILENCE_LIMIT_MS } from './kafka.js'
import { MemberSilence } from './member-silence.js'

let client: EventEmitter
let silence: MemberSilence
const JOINED_AT = 1_000_000

afterEach(() => mock.timers.reset())

beforeEach(() => {
  mock.timers.enable({ apis: ['Date'], now: JOINED_AT })
  client = new EventEmitter()
  silence = new MemberSilence(client, JOINED_AT)
})

/** Moves the clock to `ms` after the join. */
const at = (ms: number) => mock.timers.setTime(JOINED_AT + ms)

/** Heartbeats every second, each answered at once, up to `ms` after the join. */
function healthyUntil(ms: number): void {
  for (let t = 1000; t <= ms; t += 1000) {
    at(t)
    client.emit('consumer:heartbeat:start')
    client.emit('consumer:heartbeat:end')
  }
}

test('a member whose heartbeats are answered is never found silent', () => {
  healthyUntil(30_000)
  assert.equal(silence.verdict(), undefined)
  at(30_900)
  assert.equal(silence.verdict(), undefined)
})

test('a heartbeat the client reports stalled counts from the last one answered: cut off past the failing limit', () => {
  healthyUntil(5000)
  at(5001)
  client.emit('consumer:heartbeat:start')
  at(8001)
  client.emit('consumer:heartbeat:stalled')
  assert.equal(silence.verdict(), undefined, 'not before the failing limit')
  at(5000 + FAILING_HEARTBEAT_LIMIT_MS + 1)
  assert.deepEqual(silence.verdict(), { silentMs: FAILING_HEARTBEAT_LIMIT_MS + 1, why: 'heartbeats failing' })
})

test('heartbeats that stop being sent (the client stuck before sending) are found past the failing limit', () => {
  healthyUntil(5000)
  at(5000 + FAILING_HEARTBEAT_LIMIT_MS)
  assert.equal(silence.verdict(), undefined)
  at(5000 + FAILING_HEARTBEAT_LIMIT_MS + 1)
  assert.deepEqual(silence.verdict(), { silentMs: FAILING_HEARTBEAT_LIMIT_MS + 1, why: 'heartbeats not sent' })
})

test('a failed heartbeat counts the same, and one answered after it clears it', () => {
  healthyUntil(5000)
  at(6000)
  client.emit('consumer:heartbeat:start')
  client.emit('consumer:heartbeat:error')
  at(7000)
  client.emit('consumer:heartbeat:start')
  client.emit('consumer:heartbeat:end')
  at(7000 + FAILING_HEARTBEAT_LIMIT_MS)
  assert.equal(silence.verdict(), undefined, 'answered again: the clock restarts')
  at(7000 + FAILING_HEARTBEAT_LIMIT_MS + 1)
  client.emit('consumer:heartbeat:start')
  client.emit('consumer:heartbeat:error')
  assert.equal(silence.verdict()?.why, 'heartbeats failing')
})

test('a rejoin the coordinator holds (a heartbeat answered "rebalance", then no event until the join) is left alone up to the member silence limit', () => {
  healthyUntil(5000)
  at(5500)
  client.emit('consumer:heartbeat:start')
  at(5000 + MEMBER_SILENCE_LIMIT_MS)
  assert.equal(silence.verdict(), undefined, 'a rejoin under way')
  at(5000 + MEMBER_SILENCE_LIMIT_MS + 1)
  assert.deepEqual(silence.verdict(), { silentMs: MEMBER_SILENCE_LIMIT_MS + 1, why: 'no heartbeat answered' })
})

test('a finished join counts as hearing from the coordinator', () => {
  healthyUntil(5000)
  at(5500)
  client.emit('consumer:heartbeat:start')
  at(9000)
  client.emit('consumer:group:join')
  at(9000 + FAILING_HEARTBEAT_LIMIT_MS)
  assert.equal(silence.verdict(), undefined)
  at(9000 + FAILING_HEARTBEAT_LIMIT_MS + 1)
  assert.equal(silence.verdict()?.why, 'heartbeats not sent', 'none started since the join')
})
