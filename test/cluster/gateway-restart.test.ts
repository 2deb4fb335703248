// The supervised nginx gateway under SIGKILL, in front of a slow stand-in upstream (the gateway's
// behaviour is the subject here, not the services'): a killed master's workers finish and keep
// serving their connections while the restarted gateway binds beside them, and quit once idle;
// killing the whole process group (workers too) resets the connections it held. And its admission:
// checkouts past its limit are refused at once with 429.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, test } from 'node:test'
import { CheckoutApi } from '../../tools/client/api.js'
import { gatewayWorkerGroups } from '../../tools/cluster/draining-workers.js'
import { groupMembers } from '../../tools/cluster/proc.js'
import { gatewaySpec } from '../../tools/cluster/nginx.js'
import { LOCAL } from '../../tools/cluster/network.js'
import { portAllocator } from '../../tools/cluster/ports.js'
import { Supervisor } from '../../tools/cluster/processes.js'
import { waitUntil } from '../../tools/cluster/probes.js'

const UPSTREAM_DELAY_MS = 300
const CLIENTS = 16

/** CLIENTS keep-alive clients posting back to back for `durationMs`: every status, and every error message. */
async function load(port: number, durationMs: number, duringLoad: () => Promise<void>): Promise<{ statuses: number[]; errors: string[] }> {
  const api = new CheckoutApi(`http://127.0.0.1:${port}`, CLIENTS)
  const statuses: number[] = []
  const errors: string[] = []
  const deadline = Date.now() + durationMs
  const client = async () => {
    while (Date.now() < deadline) {
      try {
        statuses.push((await api.post('/orders/checkout/x')).status)
      } catch (error) {
        errors.push((error as Error).message)
      }
    }
  }
  await Promise.all([...Array.from({ length: CLIENTS }, client), duringLoad()])
  api.close() // the clients hang up: the old workers' connections end
  return { statuses, errors }
}

describe('gateway kill', { timeout: 60_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'gateway-kill-'))
  const lines: string[] = []
  let upstream: Server
  let supervisor: Supervisor
  let port: number
  const gatewayPid = () => supervisor.statuses()[0]!.pid!

  before(async () => {
    upstream = createServer((_req, res) => setTimeout(() => res.end('{}'), UPSTREAM_DELAY_MS)).listen(0, '127.0.0.1')
    await new Promise((resolve) => upstream.once('listening', resolve))
    const upstreamPort = (upstream.address() as { port: number }).port
    port = await portAllocator({ kind: 'free' }).take('gateway')
    supervisor = new Supervisor(runDir, () => {}, (line) => lines.push(line))
    const replica = [{ address: '127.0.0.1', port: upstreamPort }]
    const spec = gatewaySpec({ host: LOCAL, port, addresses: ['127.0.0.1'], upstreams: { order: replica, stock: replica, payment: replica }, checkoutLimit: CLIENTS, runDir })
    await supervisor.startAll([spec], () => [])
  })

  after(async () => {
    await supervisor?.stopAll([['gateway']])
    upstream?.close()
    upstream?.closeAllConnections()
    rmSync(runDir, { recursive: true, force: true })
  })

  test('past its checkout limit it answers 429 with Retry-After at once, and lets the others through', async () => {
    const api = new CheckoutApi(`http://127.0.0.1:${port}`, CLIENTS + 4)
    const timed = async () => {
      const started = performance.now()
      const response = await api.post('/orders/checkout/x')
      return { ...response, ms: performance.now() - started }
    }
    const answers = await Promise.all(Array.from({ length: CLIENTS + 4 }, timed))
    api.close()
    const refused = answers.filter((a) => a.status === 429)
    assert.equal(answers.filter((a) => a.status === 200).length, CLIENTS)
    assert.equal(refused.length, 4)
    for (const answer of refused) {
      assert.equal(answer.body.code, 'OVERLOADED')
      assert.equal(answer.headers['retry-after'], '1')
      assert.equal(answer.contentType, 'application/json')
      assert.ok(answer.ms < UPSTREAM_DELAY_MS, `refused in ${answer.ms} ms, before any upstream answer`)
    }
  })

  test('killing the master resets nothing: its workers finish their requests and quit once idle', async () => {
    const master = gatewayPid()
    const workers = groupMembers(master).filter((pid) => pid !== master)
    assert.ok(workers.length > 0, 'nginx runs workers under its master')

    const { statuses, errors } = await load(port, 4000, async () => {
      await sleep(1000)
      supervisor.signal('gateway', 'SIGKILL')
      await sleep(100)
      assert.deepEqual(groupMembers(master), workers, 'the workers outlive their master')
      await supervisor.waitReady('gateway')
    })

    assert.deepEqual(errors, [], 'no request was reset')
    assert.ok(statuses.length >= CLIENTS * 8, `requests went on throughout (${statuses.length})`)
    assert.ok(statuses.every((status) => status === 200), `every request answered 200: ${[...new Set(statuses)]}`)
    assert.notEqual(gatewayPid(), master, 'a new master was started')
    await waitUntil('the old workers to quit once idle', async () => groupMembers(master).length === 0, 10_000)
    assert.ok(lines.some((line) => line.includes('keep serving their connections')), lines.join('\n'))
    const { statuses: after, errors: afterErrors } = await load(port, 500, async () => {})
    assert.deepEqual(afterErrors, [])
    assert.ok(after.length > 0 && after.every((status) => status === 200), 'the new gateway serves alone')
  })

  test('killing the whole process group resets the connections its workers held; the gateway comes back', async () => {
    const master = gatewayPid()
    const { errors } = await load(port, 2500, async () => {
      await sleep(500)
      supervisor.signal('gateway', 'SIGKILL', 'group')
      await sleep(100)
      assert.deepEqual(groupMembers(master), [], 'the workers died with the group')
      await supervisor.waitReady('gateway')
    })

    assert.ok(errors.length > 0, 'requests in flight were reset')
    assert.notEqual(gatewayPid(), master)
    const { statuses, errors: afterErrors } = await load(port, 500, async () => {})
    assert.deepEqual(afterErrors, [])
    assert.ok(statuses.length > 0 && statuses.every((status) => status === 200))
  })

  test('a stop ends the gateway and any workers still draining', async () => {
    const master = gatewayPid()
    // A connection left open keeps the killed master's workers draining.
    const api = new CheckoutApi(`http://127.0.0.1:${port}`)
    await api.get('/orders/x')
    supervisor.signal('gateway', 'SIGKILL')
    await waitUntil('a new gateway master', async () => gatewayPid() !== master, 10_000)
    await supervisor.waitReady('gateway')
    const restarted = gatewayPid()
    assert.ok(groupMembers(master).length > 0, 'workers with an open connection are still there')
    // What `cluster down` kills when the supervisor died before it could stop them.
    assert.deepEqual(gatewayWorkerGroups(port).sort(), [master, restarted].sort())

    await supervisor.stopAll([['gateway']])
    api.close()
    assert.deepEqual(groupMembers(master), [])
    assert.deepEqual(groupMembers(restarted), [])
  })
})
