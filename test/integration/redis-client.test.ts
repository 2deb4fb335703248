// The services' Redis client (platform/redis.ts) through real Sentinels to a real master, when its
// connection is lost at a bad moment. ioredis gives up on a client for good ('end') when it is closed
// while connecting; a service used to exit on that, and during a network partition three replicas on a
// cut-off host did. The client must come back by itself, its subscriptions too. Also the chaos run's
// check that every Sentinel's view is current before the next fault, and the bound on waiting for
// replicas (DurabilityBarrier), and on a command's wait when its Redis goes silent.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../platform/config.js'
import { createLogger } from '../../platform/logger.js'
import { closeRedis, connectRedis, DurabilityBarrier, keepConnected, loadScript, silentForMs, type Redis } from '../../platform/redis.js'
import { groupMembers, redisNode, sentinelsSettled } from '../../tools/chaos/faults.js'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { redisCall, waitUntil } from '../../tools/cluster/probes.js'

const logger = createLogger('payment', 'redis-client-test', 'silent')
let cluster: Cluster
const clients: Redis[] = []

before(async () => {
  cluster = await startCluster({ profile: 'ha', ports: 'free', services: false })
})

after(async () => {
  for (const client of clients) closeRedis(client)
  await cluster?.stop()
})

/** A client as payment-1 makes it, from the environment the cluster gives that replica. */
function paymentClient(): Redis {
  const client = connectRedis(loadConfig(cluster.serviceEnv('payment', 1), 'payment').redis, logger, 'redis-client-test')
  clients.push(client)
  return client
}

const sentinels = () => cluster.processes.filter((p) => p.role === 'sentinel').map((p) => p.name)

/** Every Sentinel frozen while `during` runs: a client that lost its connection cannot resolve the master. */
async function withSentinelsFrozen(during: () => Promise<void>): Promise<void> {
  for (const name of sentinels()) cluster.pause(name)
  try {
    await during()
  } finally {
    for (const name of sentinels()) cluster.resume(name)
  }
}

async function ready(client: Redis): Promise<void> {
  await waitUntil('the client to be ready again', async () => client.status === 'ready', 30_000)
}

// First: the tests below freeze every Sentinel, and a Sentinel that was frozen stays in TILT mode
// (no failover) for 30 s after.
test("the chaos run's settle check: false while a failover is under way, true once every Sentinel's view is current", async () => {
  await waitUntil('the Sentinels to settle', () => sentinelsSettled(cluster), 30_000)
  const master = await redisNode(cluster, 'stock', 'master')
  cluster.pause(master) // frozen, not killed: a killed one is restarted before Sentinel gives up on it
  try {
    await waitUntil('the Sentinels to see the master gone', async () => !(await sentinelsSettled(cluster)), 10_000)
    await waitUntil('a replica to be promoted', async () => (await redisNode(cluster, 'stock', 'master')) !== master, 30_000)
  } finally {
    cluster.resume(master)
  }
  assert.equal(await sentinelsSettled(cluster), false, 'the old master has not been made a replica yet')
  await waitUntil('the Sentinels to settle again', () => sentinelsSettled(cluster), 60_000)
  assert.notEqual(await redisNode(cluster, 'stock', 'master'), master)
})

test('a connection lost while its liveness probe waits is left to reconnect, not closed mid-connect', async () => {
  const client = paymentClient()
  await client.set('redis-client-test:probe', 'before')
  let ends = 0
  client.on('end', () => ends++)
  const master = await redisNode(cluster, 'payment', 'master')
  await withSentinelsFrozen(async () => {
    cluster.pause(master)
    try {
      await sleep(1500) // a PING probe is now waiting on the frozen master
      client.stream.destroy() // and the network drops the connection: ioredis reconnects through Sentinel
      await sleep(4000) // the probe's 3 s run out while the client is still connecting
      assert.equal(client.status, 'connecting')
    } finally {
      cluster.resume(master)
    }
  })
  await ready(client)
  await client.set('redis-client-test:probe', 'after')
  assert.equal(await client.get('redis-client-test:probe'), 'after')
  assert.equal(ends, 0, 'ioredis gave up on the client')
})

test('a client ioredis gives up on connects again, and resubscribes', async () => {
  const client = paymentClient()
  const subscriber = client.duplicate()
  keepConnected(subscriber, logger, 'redis-client-test-subscriber')
  clients.push(subscriber)
  await subscriber.subscribe('redis-client-test')
  // Both connected before their connections are cut: a client still connecting has no stream yet (a CI run failed on that).
  await ready(client)
  await withSentinelsFrozen(async () => {
    for (const lost of [client, subscriber]) {
      lost.stream.destroy()
      await waitUntil('the client to reconnect', async () => lost.status === 'connecting', 5000)
      // What a Sentinel's failover announcement does to a client that is connecting: ioredis ends it.
      const ended = new Promise((resolve) => lost.once('end', resolve)) // events.once would reject on its 'error'
      lost.disconnect(true)
      await ended
    }
  })
  await ready(client)
  await ready(subscriber)
  const heard = once(subscriber, 'message')
  await waitUntil('the subscriber to hear a publish', async () => (await client.publish('redis-client-test', 'hello')) === 1, 10_000)
  assert.deepEqual((await heard).slice(0, 2), ['redis-client-test', 'hello'])
})

test('a write whose replicas do not answer fails within its budget, also one that queued behind another wait; the barrier then says it is not replicating, until they answer again', async () => {
  await ready(paymentClient()) // the Sentinels answer again (the tests above froze them)
  const master = await redisNode(cluster, 'payment', 'master')
  const replicas = groupMembers(cluster, 'payment').map((p) => p.name).filter((name) => name !== master)
  const client = paymentClient()
  await ready(client)
  const timeoutMs = 200 // so the budget is 5 × 200 ms
  const barrier = new DurabilityBarrier(client, 1, timeoutMs)
  // WAIT counts the replicas that hold this connection's writes so far: each wait follows a write.
  const write = (value: string) => client.set('redis-client-test:barrier', value)
  for (const name of replicas) cluster.pause(name)
  try {
    await write('first')
    const first = barrier.wait()
    await sleep(100)
    const arrived = Date.now()
    await write('queued')
    const queued = barrier.wait() // joins the WAIT after the one in flight
    await assert.rejects(first, /only 0\/1 Redis replicas acknowledged/)
    await assert.rejects(queued, /only 0\/1 Redis replicas acknowledged/)
    assert.equal(await barrier.replicating(), false)
    // Its budget (1000 ms) from its arrival, plus at most one WAIT begun before the deadline, plus slack
    // for a loaded machine. It used to wait out the first one's remaining 900 ms and then a budget of
    // its own: 1900 ms and more.
    const tookMs = Date.now() - arrived
    assert.ok(tookMs < 1000 + 3 * timeoutMs, `the queued wait failed ${tookMs} ms after it began`)
  } finally {
    for (const name of replicas) cluster.resume(name)
  }
  // With no write of its own since: its WAIT finds the replicas holding the earlier writes again.
  await waitUntil('the barrier to find the replicas answering again', () => barrier.replicating(), 30_000)
  await write('after')
  await waitUntil('a replica to acknowledge again', async () => (await client.wait(1, 1000)) >= 1, 30_000)
  await barrier.wait()
})

// A partition drops packets: nothing answers, nothing is refused. With auto-pipelining a command sent
// while another waited went out only once that one failed, and its own timeout started then: it failed
// 8 s after its call here, and a replica on a cut-off host held checkouts that long.
test('a client whose Redis went silent: a command sent while another waits fails within the timeout from its own call, and the client tells how long it has heard nothing', async () => {
  const client = paymentClient()
  await ready(client)
  assert.ok(silentForMs(client) < 2000, `silent for ${silentForMs(client)} ms while healthy`)
  const master = await redisNode(cluster, 'payment', 'master')
  await withSentinelsFrozen(async () => {
    cluster.pause(master)
    try {
      const first = client.get('redis-client-test:silent').then(() => undefined, (err: Error) => err)
      await sleep(2000)
      const sent = Date.now()
      const second = await client.get('redis-client-test:silent').then(() => undefined, (err: Error) => err)
      const tookMs = Date.now() - sent
      assert.match(String(second?.message), /timed out/)
      assert.ok(tookMs < 6000, `the second command failed ${tookMs} ms after its call`) // its 5 s, plus slack
      assert.match(String((await first)?.message), /timed out/)
      assert.ok(silentForMs(client) >= 6000, `silent for only ${silentForMs(client)} ms`)
    } finally {
      cluster.resume(master)
    }
  })
  await ready(client)
  await waitUntil('a liveness PING answered again', async () => silentForMs(client) < 2000, 10_000)
})

/** Every Lua script of the services, as [folder, name]. */
function everyScript(): [URL, string][] {
  return ['../../platform/scripts/', '../../participant/scripts/', '../../services/order/scripts/'].flatMap((path) => {
    const dir = new URL(path, import.meta.url)
    return readdirSync(dir).filter((file) => file.endsWith('.lua')).map((file): [URL, string] => [dir, file.slice(0, -'.lua'.length)])
  })
}

// A master deposed while a partition cut it off answers until Sentinel turns it into a replica. After a
// heal, a script that read first answered "not found" there for an order just created on the new master
// (hosts-profile in CI: populate's next request got 404). A script that declares itself (#!lua) as one
// that writes is refused before it runs by a master that cannot replicate: the request answers 503 and
// the gateway tries a replica connected to the new master.
test('every script is refused before it reads anything by a master that cannot reach enough replicas', async () => {
  const masterName = await redisNode(cluster, 'payment', 'master')
  const master = cluster.processes.find((p) => p.name === masterName)!
  const client = paymentClient()
  const scripts = everyScript()
  assert.equal(scripts.length, 8)
  // More replicas than it has: refused as a master left without its replicas is.
  const admin = { address: master.address, port: master.port!, ...cluster.credentials?.redis.admin }
  await redisCall(admin, 'CONFIG', 'SET', 'min-replicas-to-write', '3')
  try {
    const answers: Record<string, string> = {}
    for (const [dir, name] of scripts) {
      const run = loadScript(client, dir, name)
      answers[name] = await run([`refused-test:${name}`, ''], ['1', '1', '1', '1']).then((reply) => `ran: ${String(reply)}`, (err: Error) => err.message)
    }
    // Refused up front, the error names no line of the script (one refused at its first write does).
    const refused = 'NOREPLICAS Not enough good replicas to write.'
    assert.deepEqual(answers, Object.fromEntries(scripts.map(([, name]) => [name, refused])))
  } finally {
    await redisCall(admin, 'CONFIG', 'SET', 'min-replicas-to-write', '1')
  }
})
