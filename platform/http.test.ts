import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError } from './errors.js'
import { createHttpApp, parseAmount, parseBatchSize, parseId, route } from './http.js'
import { createLogger } from './logger.js'

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

test('a request is answered 503 at the deadline while its work goes on; a bulk route has none', async () => {
  const app = createHttpApp(createLogger('stock', 'http-test', 'silent'), 200)
  const finished: string[] = []
  const work = (name: string, ms: number) => async () => {
    await sleep(ms)
    finished.push(name)
    return { done: name }
  }
  route(app, 'POST', '/slow', work('slow', 400))
  route(app, 'POST', '/fast', work('fast', 10))
  route(app, 'POST', '/bulk', work('bulk', 400), { unbounded: true })
  route(app, 'POST', '/refused', () => {
    throw new AppError('BAD_INPUT', 'refused at once')
  })
  try {
    const started = performance.now()
    const slow = await app.inject({ method: 'POST', url: '/slow' })
    const tookMs = performance.now() - started
    assert.equal(slow.statusCode, 503)
    assert.match(slow.json().error, /not done within 0.2 s/)
    assert.ok(tookMs >= 190 && tookMs < 350, `answered after ${tookMs} ms`)
    assert.deepEqual(finished, [])
    assert.deepEqual((await app.inject({ method: 'POST', url: '/fast' })).json(), { done: 'fast' })
    const bulk = await app.inject({ method: 'POST', url: '/bulk' })
    assert.deepEqual([bulk.statusCode, bulk.json()], [200, { done: 'bulk' }])
    assert.deepEqual(finished, ['fast', 'slow', 'bulk']) // the late one finished, unanswered
    const refused = await app.inject({ method: 'POST', url: '/refused' })
    assert.deepEqual([refused.statusCode, refused.json().error], [400, 'refused at once'])
  } finally {
    await app.close()
  }
})
