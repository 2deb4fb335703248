// The hosts profile: the ha topology on three network namespaces. What a network adds over one machine:
// nothing listens beyond what the topology declares, nobody without credentials gets into Redis,
// Sentinel or Kafka, a partition that cuts a Redis master's host off loses nothing acknowledged, and a
// slow link on its host gets it handed over.
// Needs root (network namespaces); skipped otherwise.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { randomUUID } from 'node:crypto'
import { Admin, FindCoordinatorKeyTypes } from '@platformatic/kafka'
import { brokersStartingAt, loadConfig } from '../../platform/config.js'
import { ConsumerLoop } from '../../platform/idempotent-consumer.js'
import { Publisher } from '../../platform/kafka.js'
import { createLogger } from '../../platform/logger.js'
import { Topics } from '../../platform/messages.js'
import { activeKafkaController, redisNode, sentinelsSettled } from '../../tools/chaos/faults.js'
import { kafkaSasl } from '../../tools/cluster/credentials.js'
import { httpStatus, redisCall, waitUntil } from '../../tools/cluster/probes.js'
import { useCluster } from '../support/cluster.js'
import { assertExactlyStockSold, checkoutAll, populate } from '../support/conservation.js'

const asRoot = process.getuid?.() === 0
const env = asRoot ? useCluster('hosts') : undefined
const skip = asRoot ? false : 'network namespaces need root'

/** The first line a server answers to one inline command, as a client with no credentials sees it. */
function rawReply(host: string, port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.write(`${command}\r\n`))
    let reply = ''
    socket.setTimeout(3000, () => socket.destroy(new Error(`no answer from ${host}:${port}`)))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) {
        socket.destroy()
        resolve(reply.split('\r\n')[0]!)
      }
    })
    socket.on('error', reject)
  })
}

/** After a heal, every checkout has its definite answer within this. */
const SETTLED_WITHIN_MS = 60_000

const processesOn = (host: string) => env!.cluster.processes.filter((p) => p.host === host)

test('each host listens on its own address, and only on the ports its processes declare', { skip }, () => {
  for (const host of env!.cluster.network!.hosts) {
    const listening = execFileSync('ip', ['netns', 'exec', host.netns, 'ss', '-ltnH'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/)[3]!.replace(/^\[::ffff:(.*)\]/, '$1')) // Java binds IPv4 as mapped IPv6
    const declared = processesOn(host.name).map((p) => `${host.address}:${p.port}`)
    // Each Kafka node also listens for its controller quorum, on one port more.
    const kafkaNodes = processesOn(host.name).filter((p) => p.role === 'kafka').length
    const shown = `${host.name} listens on ${listening.join(', ')}; declared ${declared.join(', ')}`
    assert.equal(listening.length, declared.length + kafkaNodes, shown)
    for (const address of declared) assert.ok(listening.includes(address), shown)
    assert.ok(listening.every((address) => address.startsWith(`${host.address}:`)), `${host.name} listens beyond its address: ${listening.join(', ')}`)
  }
})

test('a client on the hosts network without credentials is refused by Redis, Sentinel and Kafka', { skip }, async () => {
  const { credentials, processes, kafkaBrokers } = env!.cluster
  const redis = processes.find((p) => p.role === 'redis')!
  const sentinel = processes.find((p) => p.role === 'sentinel')!
  assert.match(await rawReply(redis.address, redis.port!, 'GET anything'), /^-NOAUTH/)
  assert.equal(await redisCall({ address: redis.address, port: redis.port!, ...credentials!.redis.admin }, 'PING'), 'PONG')
  assert.match(await rawReply(sentinel.address, sentinel.port!, 'SENTINEL MASTERS'), /^-NOAUTH/)
  // A service's user may run its scripts' commands, not administer the server.
  const stock = credentials!.redis.services.stock
  const stockMaster = processes.find((p) => p.name === 'redis-stock-1')!
  await assert.rejects(redisCall({ address: stockMaster.address, port: stockMaster.port!, ...stock }, 'FLUSHALL'), /NOPERM/)

  const listTopics = async (sasl: ReturnType<typeof kafkaSasl>) => {
    const admin = new Admin({ clientId: 'intruder', bootstrapBrokers: kafkaBrokers, retries: 0, connectTimeout: 2000, requestTimeout: 5000, ...sasl })
    try {
      return await admin.listTopics()
    } finally {
      await admin.close()
    }
  }
  await assert.rejects(listTopics({}))
  await assert.rejects(listTopics(kafkaSasl({ username: 'admin', password: 'guessed' })))
  assert.ok((await listTopics(kafkaSasl(credentials!.kafka.admin))).includes('stock.commands'))
})

test("a service's port answers its HTTP routes and /metrics, and nothing else", { skip }, async () => {
  for (const service of env!.cluster.processes.filter((p) => ['order', 'stock', 'payment'].includes(p.role))) {
    const base = `http://${service.address}:${service.port}`
    assert.equal(await httpStatus(`${base}/metrics`), 200, `${service.name} /metrics`)
    assert.equal(await httpStatus(`${base}/health`), 200, `${service.name} /health`)
    assert.equal(await httpStatus(`${base}/`), 404, `${service.name} /`)
    assert.equal(await httpStatus(`${base}/debug/pprof`), 404, `${service.name} /debug/pprof`)
  }
})

/** Whether a TCP connection from a host's namespace (or the root one) to address:port opens within a second. */
function reaches(fromNetns: string | undefined, address: string, port: number): boolean {
  const probe = ['timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`]
  const [command, ...args] = fromNetns ? ['ip', 'netns', 'exec', fromNetns, ...probe] : probe
  try {
    execFileSync(command!, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

test('partition, one-way cut, slow lossy link and heal act on the links they name', { skip }, () => {
  const { cluster } = env!
  const [h1, h2, h3] = cluster.network!.hosts
  const sentinelOn = (host: typeof h1) => cluster.processes.find((p) => p.role === 'sentinel' && p.host === host!.name)!
  const links = () => ({
    h2ToH1: reaches(h2!.netns, h1!.address, sentinelOn(h1).port!),
    h1ToH2: reaches(h1!.netns, h2!.address, sentinelOn(h2).port!),
    gatewayToH1: reaches(undefined, h1!.address, sentinelOn(h1).port!),
    h3ToH2: reaches(h3!.netns, h2!.address, sentinelOn(h2).port!),
  })
  const all = { h2ToH1: true, h1ToH2: true, gatewayToH1: true, h3ToH2: true }
  try {
    assert.deepEqual(links(), all)
    cluster.partition({ side: [h1!.name] })
    assert.deepEqual(links(), { h2ToH1: false, h1ToH2: false, gatewayToH1: false, h3ToH2: true })
    cluster.heal()
    assert.deepEqual(links(), all)
    // One way: what h1 sends to h2 is lost, so neither side's connection opens (the handshake needs
    // both ways); h3 and the gateway still reach h1.
    cluster.partition({ side: [h1!.name], from: [h2!.name], oneway: true })
    assert.deepEqual(links(), { h2ToH1: false, h1ToH2: false, gatewayToH1: true, h3ToH2: true })
    cluster.heal()
    cluster.degradeLink(h3!.name, { rate: '1mbit', loss: '5%' })
    const qdisc = execFileSync('ip', ['netns', 'exec', h3!.netns, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' })
    assert.match(qdisc, /tbf .*rate 1Mbit/)
    assert.match(execFileSync('ip', ['netns', 'exec', h3!.netns, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }), /numgen random mod 1000 < 50 drop/)
  } finally {
    cluster.heal()
  }
  assert.doesNotMatch(execFileSync('ip', ['netns', 'exec', h3!.netns, 'tc', 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' }), /tbf/)
  assert.equal(execFileSync('ip', ['netns', 'exec', h3!.netns, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }).trim(), '')
  assert.deepEqual(links(), all)
})

// A broker cut off from the controller is fenced without knowing it, and answers metadata as of the cut
// (platform/metadata-witness.ts). A consumer that asked it first fetched the partitions that had moved
// away from it, empty and without an error, until the heal (a chaos run's one-way cut: 10 s and more).
test('a consumer whose first broker is cut off from the controller takes its metadata from a current one, and misses nothing', { skip }, async () => {
  const { cluster } = env!
  const controller = cluster.processes.find((p) => p.name === activeKafkaController(cluster))!
  const fenced = cluster.processes.find((p) => p.role === 'kafka' && p.host !== controller.host)!
  const first = `${fenced.address}:${fenced.port}`
  const kafka = loadConfig(cluster.serviceEnv('stock', 1), 'stock').kafka
  const logger = createLogger('stock', 'witness-test', process.env.TEST_VERBOSE ? 'info' : 'silent')
  // The test runs beside the hosts and reaches every broker: the consumer asks the cut-off one first, the publisher the controller.
  const publisher = new Publisher({ ...kafka, brokers: brokersStartingAt(kafka.brokers, kafka.brokers.indexOf(`${controller.address}:${controller.port}`)) }, 'witness-test', logger)
  const handled = new Set<string>()
  const groupId = `witness-test-${randomUUID()}`
  const loop = new ConsumerLoop({
    kafka: { ...kafka, brokers: brokersStartingAt(kafka.brokers, kafka.brokers.indexOf(first)) },
    groupId,
    clientId: groupId,
    topic: Topics.stock,
    handle: async (message) => (handled.add(message.sagaId), { send: [] }),
    publisher,
    makeDurable: async () => {},
    logger,
  })
  await loop.start()
  cluster.partition({ side: [fenced.host], from: [controller.host], oneway: true })
  try {
    await sleep(8000) // the controller fences the broker (its session: 4 s) and moves its partitions' leaders
    const sent = Array.from({ length: 60 }, () => randomUUID()) // keys over every partition
    await publisher.publish(sent.map((sagaId) => ({ topic: Topics.stock, message: { type: 'ReserveStock', sagaId, orderId: sagaId, items: [['item', 1]] } })))
    await waitUntil('every command to be handled while the cut lasts', async () => sent.every((id) => handled.has(id)), 20_000)
  } finally {
    cluster.heal()
    await loop.stop()
    await publisher.close()
  }
})

// After a partition the first broker a consumer is set to ask may be the one cut off. Asked first for
// everything in a join (the group's coordinator, metadata), it cost a connection timeout each time, and
// the join was given up after 8 s (a hosts chaos run: four replicas on healthy hosts, one after another).
test('a consumer whose first broker is cut off joins its group through the others, at once', { skip }, async () => {
  const { cluster } = env!
  const kafka = loadConfig(cluster.serviceEnv('stock', 1), 'stock').kafka
  const groupId = `cut-first-${randomUUID()}`
  const admin = new Admin({ clientId: 'cut-first-test', bootstrapBrokers: kafka.brokers, ...(kafka.sasl ? { sasl: kafka.sasl } : {}) })
  const [coordinator] = await admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: [groupId] }).finally(() => admin.close())
  // Neither the active controller's host nor the group coordinator's: waiting for those to move is another matter.
  const spared = new Set([activeKafkaController(cluster), `kafka-${coordinator!.nodeId}`])
  const cut = cluster.processes.find((p) => p.role === 'kafka' && !spared.has(p.name))!
  const logger = createLogger('stock', 'cut-first-test', process.env.TEST_VERBOSE ? 'info' : 'silent')
  const publisher = new Publisher(kafka, 'cut-first-test', logger)
  const loop = new ConsumerLoop({
    kafka: { ...kafka, brokers: brokersStartingAt(kafka.brokers, kafka.brokers.indexOf(`${cut.address}:${cut.port}`)) },
    groupId,
    clientId: groupId,
    topic: Topics.stock,
    handle: async () => ({ send: [] }),
    publisher,
    makeDurable: async () => {},
    logger,
  })
  cluster.partition({ side: [cut.host] })
  try {
    // Until the controller fences the cut broker (its session: 4 s), every write the join makes waits
    // for it (the group's state goes to __consumer_offsets, acks=all); that wait is not this test's.
    await sleep(6000)
    const started = Date.now()
    await loop.start()
    const tookMs = Date.now() - started
    assert.ok(tookMs < 2000, `joined in ${tookMs} ms`)
    assert.notDeepEqual(loop.ownedPartitions(), [])
  } finally {
    cluster.heal()
    await loop.stop()
    await publisher.close()
  }
})

test('a replica cut off from its Redis answers 503 within seconds instead of hanging, and the gateway routes around it', { skip }, async () => {
  const { cluster, api } = env!
  const userId = await api.createUser()
  const masterName = await redisNode(cluster, 'payment', 'master')
  const master = cluster.processes.find((p) => p.name === masterName)!
  // A payment replica on another host than its master, cut off from every other host: the gateway still reaches it.
  const replica = cluster.processes.find((p) => p.role === 'payment' && p.host !== master.host)!
  const others = cluster.network!.hosts.map((h) => h.name).filter((name) => name !== replica.host)
  cluster.partition({ side: [replica.host], from: others })
  try {
    const started = Date.now()
    const direct = await fetch(`http://${replica.address}:${replica.port}/payment/find_user/${userId}`, { signal: AbortSignal.timeout(30_000) })
    const tookMs = Date.now() - started
    assert.equal(direct.status, 503)
    assert.ok(tookMs < 12_000, `answered in ${tookMs} ms`)
    assert.equal((await api.request('GET', `/payment/find_user/${userId}`)).status, 200)
  } finally {
    cluster.heal()
    // Cut off past Sentinel's down-after, the host's Redis masters were failed over: the next test
    // starts once every old master is a replica again (its populate read an order from a deposed
    // master before, and got 404: noted on the issue).
    await waitUntil('every Sentinel to see the same masters and replicas again', () => sentinelsSettled(cluster), 60_000, 500)
  }
})

// A Redis master cut off from the Sentinel majority is replaced on the other side, and goes on
// answering reads as of the cut to the replicas on its own host: in CI a stock replica there read 50
// units left where the promoted master had none, just after the heal.
test('a replica whose Redis master is cut off from the Sentinel majority reads nothing stale: every read sees the write made on the promoted master', { skip }, async () => {
  const { cluster, api } = env!
  const itemId = await api.createItem(1)
  await api.addStock(itemId, 10)
  const master = await redisNode(cluster, 'stock', 'master')
  const masterHost = cluster.processes.find((p) => p.name === master)!.host
  const others = cluster.network!.hosts.map((h) => h.name).filter((name) => name !== masterHost)
  const beside = cluster.processes.find((p) => p.role === 'stock' && p.host === masterHost)!
  const writer = cluster.processes.find((p) => p.role === 'stock' && p.host !== masterHost)!
  // The gateway still reaches every host.
  cluster.partition({ side: [masterHost], from: others })
  try {
    // Possible only once a replica on the writer's side is promoted (the old master is out of its reach).
    const key = randomUUID()
    const subtract = () => fetch(`http://${writer.address}:${writer.port}/stock/subtract/${itemId}/3`, { method: 'POST', headers: { 'Idempotency-Key': key }, signal: AbortSignal.timeout(10_000) })
    await waitUntil('a write on the promoted master', async () => (await subtract().catch(() => undefined))?.status === 200, 40_000, 250)
    const direct = await fetch(`http://${beside.address}:${beside.port}/stock/find/${itemId}`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(direct.status, 503, `${beside.name}, on the old master's host, answered ${direct.status} ${await direct.text()}`)
    const reads: unknown[] = []
    for (let i = 0; i < 30; i++) {
      const read = await api.request('GET', `/stock/find/${itemId}`)
      reads.push([read.status, (read.body as { stock?: number }).stock])
    }
    assert.deepEqual(reads, Array.from({ length: 30 }, () => [200, 7]))
  } finally {
    cluster.heal()
    await waitUntil('every Sentinel to see the same masters and replicas again', () => sentinelsSettled(cluster), 60_000, 500)
  }
})

test("a Redis master whose host's link turns slow and lossy under checkouts is handed over to a replica on another host, losing nothing acknowledged", { skip }, async () => {
  const { cluster, api } = env!
  const stock = 300
  const world = await populate(api, stock, 600)
  const master = await redisNode(cluster, 'stock', 'master')
  const masterHost = cluster.processes.find((p) => p.name === master)!.host
  const running = checkoutAll(api, world, 20, { retryUntilDefinite: true })
  await sleep(500)
  // Sentinel fails over a master that stops answering; this one answers, late: the service replicas
  // compare its round trips with its replicas' and hand it over (platform/slow-master.ts).
  cluster.degradeLink(masterHost, { rate: '1mbit', loss: '5%' })
  const slowSince = Date.now()
  let promoted = master
  try {
    await waitUntil('the stock master to move off the slow host', async () => (promoted = await redisNode(cluster, 'stock', 'master')) !== master, 30_000, 250)
  } finally {
    cluster.heal()
  }
  const movedMs = Date.now() - slowSince
  assert.notEqual(cluster.processes.find((p) => p.name === promoted)!.host, masterHost)
  await assertExactlyStockSold(api, world, await running, stock)
  // Measured: 3-7 s (the watch needs 4 slow PINGs of 6, then pauses writes, lets the replicas catch up, has Sentinel promote one).
  assert.ok(movedMs < 15_000, `the master moved ${movedMs} ms after the link turned slow`)
  const old = cluster.processes.find((p) => p.name === master)!
  const info = String(await redisCall({ address: old.address, port: old.port!, ...cluster.credentials!.redis.admin }, 'INFO', 'replication'))
  assert.match(info, /role:slave/, `${master} follows the new master`)
  await waitUntil('every Sentinel to see the same masters and replicas again', () => sentinelsSettled(cluster), 60_000, 500)
})

test("a Redis master's host cut off past Sentinel's down-after under checkouts: every checkout ends, nothing acknowledged is lost, the old master rejoins as a replica", { skip }, async () => {
  const { cluster, api } = env!
  const stock = 150
  const world = await populate(api, stock, 300)
  const master = await redisNode(cluster, 'stock', 'master')
  const masterHost = cluster.processes.find((p) => p.name === master)!.host
  const running = checkoutAll(api, world, 20, { retryUntilDefinite: true })
  await sleep(500)
  cluster.partition({ side: [masterHost] })
  await sleep(12_000) // Sentinel's down-after is 3 s: the others promote a replica meanwhile
  cluster.heal()
  const healedAt = Date.now()
  const tally = await running
  const settledMs = Date.now() - healedAt
  await assertExactlyStockSold(api, world, tally, stock)
  // The aim is 30 s; measured 34.5 s on 2 cores (docs/BENCHMARKS.md). A stuck saga would never end.
  assert.ok(settledMs < SETTLED_WITHIN_MS, `every checkout had its definite answer ${settledMs} ms after the heal`)
  const promoted = await redisNode(cluster, 'stock', 'master')
  assert.notEqual(promoted, master, 'a replica on the majority side was promoted')
  const old = cluster.processes.find((p) => p.name === master)!
  const admin = cluster.credentials!.redis.admin
  await waitUntil(`${master} to rejoin as a replica`, async () => String(await redisCall({ address: old.address, port: old.port!, ...admin }, 'INFO', 'replication')).includes('role:slave'), 30_000)
})
