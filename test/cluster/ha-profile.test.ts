// The ha profile's infrastructure, started by the launcher on free ports: three Kafka nodes form one
// quorum, every data group has a Redis master and two replicas watched by three Sentinels, and a killed
// master is replaced by a replica, then comes back as the new master's replica.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Admin } from '@platformatic/kafka'
import { Redis } from 'ioredis'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { waitUntil } from '../../tools/cluster/probes.js'
import { DATA_GROUPS } from '../../tools/cluster/topology.js'
import { roundTrip } from '../support/kafka.js'

describe('ha profile, infrastructure only', { timeout: 90_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'cluster-ha-'))
  let cluster: Cluster

  before(async () => {
    cluster = await startCluster({ profile: 'ha', runDir, ports: 'free', services: false })
  })

  after(async () => {
    await cluster?.stop()
    rmSync(runDir, { recursive: true, force: true })
  })

  const portOf = (name: string) => cluster.processes.find((process) => process.name === name)!.port!
  const sentinelPorts = () => cluster.processes.filter((process) => process.role === 'sentinel').map((process) => process.port!)

  async function replicationOf(name: string): Promise<string> {
    const redis = new Redis(portOf(name), '127.0.0.1')
    try {
      return await redis.info('replication')
    } finally {
      redis.disconnect()
    }
  }

  /** The master port of a group as each Sentinel reports it. */
  async function mastersSeenBySentinels(group: string): Promise<number[]> {
    return Promise.all(
      sentinelPorts().map(async (port) => {
        const sentinel = new Redis(port, '127.0.0.1')
        try {
          const [, masterPort] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', group)) as [string, string]
          return Number(masterPort)
        } finally {
          sentinel.disconnect()
        }
      }),
    )
  }

  test('three Kafka nodes replicate a topic three ways and deliver its messages', async () => {
    assert.equal(cluster.kafkaBrokers.length, 3)
    const topic = `cluster-test-${randomUUID()}`
    const bootstrapBrokers = cluster.kafkaBrokers
    const admin = new Admin({ clientId: 'cluster-test', bootstrapBrokers })
    await admin.createTopics({ topics: [topic], partitions: 3, replicas: 3 })
    const metadata = await admin.metadata({ topics: [topic], forceUpdate: true })
    await admin.close()
    assert.equal(metadata.brokers.size, 3)
    for (const partition of metadata.topics.get(topic)!.partitions) assert.equal(partition.replicas.length, 3)

    assert.equal(await roundTrip(bootstrapBrokers, topic, 'hello'), 'hello')
  })

  test('every data group has a master with a replica in sync, and the Sentinels agree on it', async () => {
    for (const group of DATA_GROUPS) {
      assert.match(await replicationOf(`redis-${group}-1`), /role:master[\s\S]*connected_slaves:2/, group)
      assert.match(await replicationOf(`redis-${group}-2`), /role:slave[\s\S]*master_link_status:up/, group)
      assert.match(await replicationOf(`redis-${group}-3`), /role:slave[\s\S]*master_link_status:up/, group)
      assert.deepEqual(await mastersSeenBySentinels(group), [1, 2, 3].map(() => portOf(`redis-${group}-1`)), group)
    }
  })

  test('a killed master is replaced by a replica and rejoins as a replica', async () => {
    const oldMaster = 'redis-order-1'
    const writer = new Redis(portOf(oldMaster), '127.0.0.1')
    await writer.set('cluster-test:acknowledged', 'by a replica')
    assert.equal(await writer.wait(2, 2000), 2)
    writer.disconnect()

    cluster.kill(oldMaster)
    const replicas = ['redis-order-2', 'redis-order-3']
    let promoted = ''
    await waitUntil(
      'the Sentinels to promote a replica',
      async () => {
        const seen = await mastersSeenBySentinels('order')
        promoted = replicas.find((name) => seen.every((port) => port === portOf(name))) ?? ''
        return promoted !== ''
      },
      10_000,
    )
    assert.match(await replicationOf(promoted), /role:master/)
    const other = replicas.find((name) => name !== promoted)!
    await waitUntil('the other replica to follow the new master', async () => new RegExp(`master_port:${portOf(promoted)}[\\s\\S]*master_link_status:up`).test(await replicationOf(other)), 15_000)

    await cluster.waitReady(oldMaster)
    await waitUntil('the old master to replicate the new one', async () => /master_link_status:up/.test(await replicationOf(oldMaster)), 15_000)
    assert.match(await replicationOf(oldMaster), new RegExp(`role:slave[\\s\\S]*master_port:${portOf(promoted)}`))

    const reader = new Redis(portOf(promoted), '127.0.0.1')
    assert.equal(await reader.get('cluster-test:acknowledged'), 'by a replica')
    reader.disconnect()
  })
})
