// The default profile's infrastructure, started by the launcher on free ports: Kafka takes and delivers
// a message, every data group's Redis answers, a killed Redis comes back with its data, and the cluster
// CLI (ps --json, pause, resume, kill) acts on the running cluster.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe, test } from 'node:test'
import { Admin } from '@platformatic/kafka'
import { Redis } from 'ioredis'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { processStat } from '../../tools/cluster/proc.js'
import { DATA_GROUPS } from '../../tools/cluster/topology.js'
import { roundTrip } from '../support/kafka.js'

const run = promisify(execFile)
const cliPath = fileURLToPath(new URL('../../tools/cluster/main.js', import.meta.url))

describe('default profile, infrastructure only', { timeout: 60_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'cluster-default-'))
  let cluster: Cluster

  before(async () => {
    cluster = await startCluster({ profile: 'default', runDir, ports: 'free', services: false })
  })

  after(async () => {
    await cluster?.stop()
    rmSync(runDir, { recursive: true, force: true })
  })

  test('starts one Kafka node and one Redis per data group, and no service', () => {
    const roles = cluster.processes.map((process) => process.role).sort()
    assert.deepEqual(roles, ['kafka', 'redis', 'redis', 'redis'])
    assert.ok(cluster.processes.every((process) => process.alive))
  })

  test('Kafka accepts a message and delivers it to a consumer group', async () => {
    const topic = `cluster-test-${randomUUID()}`
    const bootstrapBrokers = cluster.kafkaBrokers
    const admin = new Admin({ clientId: 'cluster-test', bootstrapBrokers })
    await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
    await admin.close()

    assert.equal(await roundTrip(bootstrapBrokers, topic, 'hello'), 'hello')
  })

  test('every data group has a Redis answering PING', async () => {
    for (const group of DATA_GROUPS) {
      const redis = new Redis(cluster.redis[group].url!)
      assert.equal(await redis.ping(), 'PONG', group)
      redis.disconnect()
    }
  })

  test('a killed Redis is restarted with its data', async () => {
    const url = cluster.redis.stock.url!
    const writer = new Redis(url)
    await writer.set('cluster-test:survivor', 'still here')
    writer.disconnect()

    const original = cluster.processes.find((process) => process.name === 'redis-stock-1')!
    cluster.kill('redis-stock-1')
    await cluster.waitReady('redis-stock-1')
    const restarted = cluster.processes.find((process) => process.name === 'redis-stock-1')!
    assert.notEqual(restarted.pid, original.pid)
    assert.equal(restarted.restarts, original.restarts + 1)

    const reader = new Redis(url)
    assert.equal(await reader.get('cluster-test:survivor'), 'still here')
    reader.disconnect()
  })

  test('the CLI lists the processes as JSON, and kills and pauses one by name', async () => {
    const cli = (...args: string[]) => run(process.execPath, [cliPath, ...args, '--run-dir', runDir])
    const listed = JSON.parse((await cli('ps', '--json')).stdout) as { name: string; role: string; pid: number; port: number | null; alive: boolean }[]
    assert.deepEqual(
      listed.map(({ name, role, pid, port, alive }) => ({ name, role, pid, port, alive })),
      cluster.processes.map(({ name, role, pid, port, alive }) => ({ name, role, pid, port, alive })),
    )

    const victim = listed.find((entry) => entry.name === 'redis-order-1')!
    await cli('pause', victim.name)
    assert.equal(processStat(victim.pid)?.state, 'T', 'paused')
    await cli('resume', victim.name)
    assert.notEqual(processStat(victim.pid)?.state, 'T', 'running again')
    assert.match((await cli('kill', victim.name)).stdout, /SIGKILL sent to redis-order-1/)
    await cluster.waitReady(victim.name)
    assert.notEqual(cluster.processes.find((entry) => entry.name === victim.name)!.pid, victim.pid, 'restarted')

    await assert.rejects(cli('kill', 'no-such-process'), /no process named no-such-process/)
  })
})
