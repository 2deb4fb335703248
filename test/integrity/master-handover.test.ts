// A Redis master handed over while it takes acknowledged writes (platform/master-handover.ts, what the
// slow-master watch does to a master behind a slow link): every write acknowledged before, during or
// after the hand-over is on the new master, the writes paused meanwhile go on once retried, the old
// master follows the new one, and the group's lock keeps anyone else from handing it over again at once.
// Real Redis servers and Sentinels (the ha profile, without the services).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { loadConfig } from '../../platform/config.js'
import { createLogger } from '../../platform/logger.js'
import { handOverMaster, masterAddress } from '../../platform/master-handover.js'
import { closeRedis, connectRedis, DurabilityBarrier, infoFields } from '../../platform/redis.js'
import { groupMembers, redisNode } from '../../tools/chaos/faults.js'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { waitUntil } from '../../tools/cluster/probes.js'

let cluster: Cluster
const connections: Redis[] = []

before(async () => {
  cluster = await startCluster({ profile: 'ha', ports: 'free', services: false })
})

after(async () => {
  for (const connection of connections) connection.disconnect()
  await cluster?.stop()
})

const direct = (host: string, port: number) => {
  const connection = new Redis({ host, port, commandTimeout: 3000, maxRetriesPerRequest: 0 })
  connections.push(connection)
  return connection
}

const WRITERS = 8
const KEY = 'handover-test:acknowledged'

test('a live master handed over under acknowledged writes loses none of them, and the writes go on on the new master', async () => {
  const client = connectRedis(loadConfig(cluster.serviceEnv('payment', 1), 'payment').redis, createLogger('payment', 'handover-test', 'silent'), 'handover-test')
  const barrier = new DurabilityBarrier(client, 1, 1000)
  const acknowledged: number[] = []
  let failed = 0
  let writing = true
  // Each writer adds its own numbers; one counts as acknowledged once a replica holds it (WAIT).
  const writers = Array.from({ length: WRITERS }, async (_, writer) => {
    for (let n = writer; writing; n += WRITERS) {
      try {
        await client.sadd(KEY, n)
        await barrier.wait()
        acknowledged.push(n)
      } catch {
        failed++
        await sleep(50)
      }
    }
  })
  await waitUntil('writes to be acknowledged', async () => acknowledged.length > 100, 30_000)

  const sentinelProcess = cluster.processes.find((p) => p.role === 'sentinel')!
  const sentinel = direct(sentinelProcess.address, sentinelProcess.port!)
  const oldName = await redisNode(cluster, 'payment', 'master')
  const members = groupMembers(cluster, 'payment')
  const address = (name: string) => {
    const member = members.find((p) => p.name === name)!
    return `${member.address}:${member.port}`
  }
  const old = members.find((p) => p.name === oldName)!
  const oldMaster = direct(old.address, old.port!)
  const replicas = new Map(members.filter((p) => p !== old).map((p) => [address(p.name), direct(p.address, p.port!)]))
  const beforeHandOver = acknowledged.length

  const promoted = await handOverMaster(sentinel, 'payment', { master: { address: address(oldName), redis: oldMaster }, replicas }, 'handover-test')
  const acknowledgedAtSwitch = acknowledged.length
  assert.ok(replicas.has(promoted), `promoted ${promoted}, one of the replicas`)
  assert.equal(await masterAddress(sentinel, 'payment'), promoted)
  assert.equal((await infoFields(oldMaster, 'replication')).get('role'), 'slave', 'the old master follows the new one at once')
  // The writes go on, on the new master (the client follows Sentinel's announcement).
  await waitUntil('writes to be acknowledged on the new master', async () => acknowledged.length > acknowledgedAtSwitch + 100, 30_000)
  writing = false
  await Promise.all(writers)
  closeRedis(client)

  const newMaster = replicas.get(promoted)!
  const held = new Set((await newMaster.smembers(KEY)).map(Number))
  const lost = acknowledged.filter((n) => !held.has(n))
  assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged writes missing on the new master`)
  assert.ok(beforeHandOver > 100 && acknowledged.length > acknowledgedAtSwitch, `acknowledged ${beforeHandOver} before, ${acknowledged.length} in all; ${failed} failed and retried`)

  // The lock went over with the data: nobody else hands the new master over within its minute.
  const fresh = new Map([...replicas].filter(([a]) => a !== promoted).concat([[address(oldName), oldMaster]]))
  await assert.rejects(
    handOverMaster(sentinel, 'payment', { master: { address: promoted, redis: newMaster }, replicas: fresh }, 'someone-else'),
    /another hand-over of this master is under way or just happened/,
  )
  assert.equal(await newMaster.set('handover-test:writable', '1'), 'OK', 'a refused hand-over leaves the master taking writes')
})
