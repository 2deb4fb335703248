// The idempotent consumer loop and the publisher on a real Kafka broker, with no service around them:
// what a batch leads to goes out only once the batch is durable, offsets are committed only after,
// a failure of the infrastructure is retried and a message's own fault is set aside.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, Consumer, consumerGroupChannel, consumerHeartbeatChannel, instancesChannel, stringDeserializers } from '@platformatic/kafka'
import { pino } from 'pino'
import type { KafkaConfig } from '../../platform/config.js'
import { DEAD_LETTER_TOPIC, POISON_ATTEMPTS } from '../../platform/dead-letters.js'
import { ConsumerLoop, type MessageHandler } from '../../platform/idempotent-consumer.js'
import { createConsumer, ensureTopics, MEMBER_SILENCE_LIMIT_MS, Publisher, type StringConsumer } from '../../platform/kafka.js'
import { createLogger } from '../../platform/logger.js'
import { Topics, type StockCommand } from '../../platform/messages.js'
import { metrics } from '../../platform/metrics.js'
import { OffsetCommitter } from '../../platform/offset-committer.js'
import { closeSession, openSession } from '../../platform/consumer-session.js'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { waitUntil } from '../../tools/cluster/probes.js'

const logger = createLogger('stock', 'consumer-loop-test', 'silent')
let cluster: Cluster
let kafka: KafkaConfig
let publisher: Publisher
const loops: ConsumerLoop<'stock.commands'>[] = []

before(async () => {
  cluster = await startCluster({ profile: 'default', ports: 'free', services: false })
  kafka = { brokers: cluster.kafkaBrokers, replicationFactor: 1, minInsyncReplicas: 1, partitions: 3 }
  await ensureTopics(kafka, logger)
  publisher = new Publisher(kafka, 'consumer-loop-test', logger)
})

after(async () => {
  for (const loop of loops) await loop.stop()
  await publisher?.close()
  await cluster?.stop()
})

const command = (sagaId: string, orderId = sagaId): StockCommand => ({ type: 'ReserveStock', sagaId, orderId, items: [['item', 1]] })

/** How many times the consumer loop counted this kind of Kafka error (kafka_errors_total). */
async function kafkaErrors(operation: string): Promise<number> {
  return (await metrics.kafkaErrors.get()).values.find((v) => v.labels.operation === operation)?.value ?? 0
}

/** Starts a loop on stock.commands in `groupId` (a fresh group reads the topic from its start). */
async function startLoop(groupId: string, handle: MessageHandler<'stock.commands'>, makeDurable: () => Promise<void> = async () => {}) {
  const loop = new ConsumerLoop({ kafka, groupId, clientId: groupId, topic: Topics.stock, handle, publisher, makeDurable, logger })
  loops.push(loop)
  await loop.start()
  return loop
}

type OperationSubscriber = Parameters<typeof consumerGroupChannel.subscribe>[0]

/** A subscriber to one of the client's diagnostics channels that runs `start` as each operation starts. */
function onStart(start: OperationSubscriber['start']): OperationSubscriber {
  const ignore = () => {}
  return { start, end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore }
}

/** Every message on `topic` whose key is `key`, read from the start by a throwaway group. */
async function readKeyed(topic: string, key: string, atLeast: number, timeoutMs = 30_000): Promise<string[]> {
  const consumer = new Consumer({ clientId: 'reader', groupId: `reader-${randomUUID()}`, bootstrapBrokers: kafka.brokers, deserializers: stringDeserializers })
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 })
  const values: string[] = []
  const deadline = Date.now() + timeoutMs
  try {
    const iterator = stream[Symbol.asyncIterator]()
    while (values.length < atLeast && Date.now() < deadline) {
      const next = await Promise.race([iterator.next(), sleep(deadline - Date.now()).then(() => undefined)])
      if (!next || next.done) break
      if (next.value.key === key) values.push(next.value.value)
    }
  } finally {
    await stream.close()
    await consumer.close()
  }
  return values
}

test('a reaction goes out only once its batch is durable, and a handled message is not handled again', async () => {
  const sagaId = `saga-${randomUUID()}`
  const group = `loop-${randomUUID()}`
  let openBarrier!: () => void
  const barrier = new Promise<void>((resolve) => (openBarrier = resolve))
  const handled: string[] = []
  const handle: MessageHandler<'stock.commands'> = async (message) => {
    handled.push(message.sagaId)
    return { send: [{ topic: Topics.saga, message: { type: 'StockReserved', sagaId: message.sagaId, orderId: message.orderId, items: message.items } }] }
  }
  const loop = await startLoop(group, handle, () => barrier)
  await publisher.publish([{ topic: Topics.stock, message: command(sagaId) }])
  await waitUntil('the command handled', async () => handled.includes(sagaId), 30_000, 50)

  assert.deepEqual(await readKeyed(Topics.saga, sagaId, 1, 3000), [], 'no reply while the barrier is closed')
  openBarrier()
  const replies = await readKeyed(Topics.saga, sagaId, 1)
  assert.deepEqual(replies.map((r) => JSON.parse(r) as unknown), [{ type: 'StockReserved', sagaId, orderId: sagaId, items: command(sagaId).items }])

  // The offset was committed after the reply went out: a new member of the group does not see it again.
  await sleep(1000)
  await loop.stop()
  const again: string[] = []
  await startLoop(group, async (message) => (again.push(message.sagaId), { send: [] }))
  const later = `saga-${randomUUID()}`
  await publisher.publish([{ topic: Topics.stock, message: command(later) }])
  await waitUntil('the next command handled', async () => again.includes(later), 30_000, 50)
  assert.deepEqual(again, [later])
})

test('a failing connection is retried until it passes; a message failing by its own fault is set aside and its partition moves on', async () => {
  const group = `loop-${randomUUID()}`
  // One key, so the three commands share a partition, in this order.
  const orderId = `order-${randomUUID()}`
  const [flaky, poison, after] = ['flaky', 'poison', 'after'].map((name) => `${name}-${randomUUID()}`)
  const attempts = new Map<string, number>()
  await startLoop(group, async (message) => {
    const n = (attempts.get(message.sagaId) ?? 0) + 1
    attempts.set(message.sagaId, n)
    if (message.sagaId === flaky && n <= 3) throw new Error('Connection is closed.')
    if (message.sagaId === poison) throw new TypeError("Cannot read properties of undefined (reading 'stock')")
    return { send: [] }
  })
  await publisher.publish([flaky, poison, after].map((sagaId) => ({ topic: Topics.stock, message: command(sagaId, orderId) })))
  await waitUntil('the message behind the poison handled', async () => (attempts.get(after) ?? 0) >= 1, 60_000, 100)

  // A failed batch is handled again from its first message (handlers are idempotent), so the flaky
  // message is seen once more per failure behind it; what matters is that it got past its failures.
  assert.ok(attempts.get(flaky)! >= 4, 'retried past three connection failures, then handled')
  assert.equal(attempts.get(poison), POISON_ATTEMPTS, 'set aside after exactly that many attempts')
  const letters = (await readKeyed(DEAD_LETTER_TOPIC, orderId, 1)).map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.equal(letters.length, 1, 'only the poison message is set aside')
  assert.equal(letters[0]!.topic, Topics.stock)
  assert.equal(letters[0]!.attempts, POISON_ATTEMPTS)
  assert.match(String(letters[0]!.error), /Cannot read properties of undefined/)
  assert.equal(JSON.parse(String(letters[0]!.value)).sagaId, poison)
})

test('a member whose coordinator stops answering is given a new session, which handles what comes after', async () => {
  const silentSessions = () => kafkaErrors('silent-member')
  for (const loop of loops.splice(0)) await loop.stop()
  const handled: string[] = []
  await startLoop(`loop-${randomUUID()}`, async (message) => (handled.push(message.sagaId), { send: [] }))
  const before = await silentSessions()
  // The only broker, and so the group coordinator, frozen past the silence limit: alive but mute, as
  // behind a partition.
  cluster.pause('kafka-1')
  try {
    await waitUntil('the silent member noticed', async () => (await silentSessions()) > before, MEMBER_SILENCE_LIMIT_MS + 10_000, 250)
  } finally {
    cluster.resume('kafka-1')
  }
  const sagaId = `after-${randomUUID()}`
  await publisher.publish([{ topic: Topics.stock, message: command(sagaId) }])
  await waitUntil('the message after the freeze handled', async () => handled.includes(sagaId), 30_000, 100)
  assert.equal(await silentSessions(), before + 1, 'one session replaced, none once the coordinator answered again')
})

test('a session closed while its member rejoins leaves no heartbeat running', async (t) => {
  const groupId = `closed-mid-join-${randomUUID()}`
  const options = (clientId: string) => ({ kafka, groupId, clientId, topic: Topics.stock, logger })
  const first = await openSession(options('first'))
  // A second member makes the coordinator ask the first to rejoin. As the first sends its SyncGroup,
  // the broker freezes; the session is closed meanwhile, and once resumed the broker answers the sync,
  // then the leave: the order in which a test run met it.
  let closing: Promise<void> | undefined
  const freezeAtSync = onStart(({ client, operation }) => {
    if (client !== first.consumer || operation !== 'syncGroup' || closing) return
    cluster.pause('kafka-1')
    closing = closeSession(first)
    setTimeout(() => cluster.resume('kafka-1'), 1000)
  })
  consumerGroupChannel.subscribe(freezeAtSync)
  t.after(() => consumerGroupChannel.unsubscribe(freezeAtSync))
  const second = await openSession(options('second'))
  await waitUntil('the first session closed', async () => closing !== undefined, 30_000, 50)
  await closing
  await closeSession(second)
  let heartbeats = 0
  const closed = new Set<unknown>([first.consumer, second.consumer])
  const count = onStart(({ client }) => void (closed.has(client) && heartbeats++))
  consumerHeartbeatChannel.subscribe(count)
  await sleep(3000)
  consumerHeartbeatChannel.unsubscribe(count)
  // close() alone ended the heartbeats but not the membership: the join completed after it and armed
  // heartbeats that nothing stopped, one a second forever (they fail, "Connection pool is closed").
  assert.equal(heartbeats, 0, 'heartbeats of the two sessions after they closed')
})

test('a join given up on, which the client then completes, does not end the process', async () => {
  const options = { kafka, groupId: `abandoned-${randomUUID()}`, clientId: 'abandoned', topic: Topics.stock, logger }
  for (let attempt = 0; attempt < 5; attempt++) {
    // Given up on at once: the client goes on joining, and builds its stream after the loop has moved on.
    await assert.rejects(openSession(options, kafka.brokers, 1), /joining the group took longer than 1 ms/)
    await sleep(attempt * 50)
  }
  await sleep(5000)
  const session = await openSession(options)
  assert.ok(session.consumer.memberId, 'a later session joins')
  await closeSession(session)
})

test('a join given up on while the coordinator is silent does not join later beside the next session', async () => {
  const groupId = `ghost-${randomUUID()}`
  const options = { kafka, groupId, clientId: 'ghost', topic: Topics.stock, logger }
  const generations: number[] = []
  cluster.pause('kafka-1')
  try {
    // Stuck in the client's nested retries when given up on, as a replica's join behind a partition.
    await assert.rejects(openSession(options, kafka.brokers, 2000), /joining the group took longer than 2000 ms/)
  } finally {
    cluster.resume('kafka-1')
  }
  const session = await openSession(options)
  session.consumer.on('consumer:group:join', ({ generationId }: { generationId: number }) => generations.push(generationId))
  await sleep(8000)
  await closeSession(session)
  // The given-up join used to complete after the resume, under the same static member id: the two
  // fenced each other, and the group rebalanced every second until the client's retries ran out.
  assert.deepEqual(generations, [], 'no rebalance once the next session joined')
})

test('a join that fails closes its consumer', async (t) => {
  const groupId = `failed-join-${randomUUID()}`
  const consumers: StringConsumer[] = []
  const collect = (created: unknown) => {
    const { type, instance } = created as { type: string; instance: StringConsumer }
    if (type === 'consumer' && instance.groupId === groupId) consumers.push(instance)
  }
  instancesChannel.subscribe(collect)
  t.after(() => instancesChannel.unsubscribe(collect))
  // A topic the brokers do not have (they create none on demand): the join fails at once.
  const options = { kafka, groupId, clientId: 'failed-join', topic: 'no-such-topic' as typeof Topics.stock, logger }
  await assert.rejects(openSession(options), (err: Error) => !/took longer than/.test(err.message))
  assert.equal(consumers.length, 1)
  // Left open, it kept its connections to the brokers for the life of the process.
  await waitUntil('the consumer of the failed join closed', async () => consumers[0]!.closed, 5000, 50)
})

test('a replica that cannot work hands its partitions over, with no message to fail on, until it can work again', async () => {
  for (const loop of loops.splice(0)) await loop.stop()
  const groupId = `loop-${randomUUID()}`
  let brokenCanWork = true
  const handledBy = new Map<string, string>()
  const member = (clientId: string, broken: boolean) =>
    new ConsumerLoop({
      kafka,
      groupId,
      clientId,
      topic: Topics.stock,
      publisher,
      makeDurable: async () => {},
      logger,
      // The broken member's store is unreachable: every batch fails, as a connection error would.
      handle: async (message) => {
        if (broken) throw new Error('Command timed out')
        handledBy.set(message.sagaId, clientId)
        return { send: [] }
      },
      canWork: async () => {
        if (broken && brokenCanWork) throw new Error('Command timed out')
      },
    })
  const [broken, healthy] = [member(`${groupId}-broken`, true), member(`${groupId}-healthy`, false)]
  loops.push(broken, healthy)
  await broken.start()
  await healthy.start()
  await waitUntil('both members to own partitions', async () => broken.ownedPartitions().length > 0 && healthy.ownedPartitions().length > 0, 30_000, 100)
  const handOvers = () => kafkaErrors('hand-over')
  const before = await handOvers()
  // Idle, as a replica cut off from its Redis whose fetches fail too: it hands over all the same.
  await waitUntil('the broken member to hand over', async () => (await handOvers()) > before, 30_000, 200)
  await waitUntil('the healthy member to own every partition', async () => healthy.ownedPartitions().length === kafka.partitions, 30_000, 200)
  assert.deepEqual(broken.ownedPartitions(), [], 'the broken member sits out')
  assert.equal(broken.sittingOut(), true)
  assert.equal(healthy.sittingOut(), false)
  // Keys spread over every partition, the broken member's former ones too.
  const sagaIds = Array.from({ length: 12 }, (_, i) => `handover-${i}-${randomUUID()}`)
  await publisher.publish(sagaIds.map((sagaId) => ({ topic: Topics.stock, message: command(sagaId) })))
  await waitUntil('every message handled by the healthy member', async () => sagaIds.every((id) => handledBy.has(id)), 60_000, 200)
  assert.equal(await handOvers(), before + 1, 'the broken member handed over once')
  brokenCanWork = false
  await waitUntil('the broken member back in its group', async () => broken.ownedPartitions().length > 0, 30_000, 200)
  assert.equal(broken.sittingOut(), false)
})

test('a replica whose replies cannot go out hands its partitions over', async () => {
  for (const loop of loops.splice(0)) await loop.stop()
  const groupId = `loop-${randomUUID()}`
  const handOvers = () => kafkaErrors('hand-over')
  // Its Redis answers, but no broker does: as a replica cut off from the leader of its replies' partition.
  const stuckPublisher = new Publisher({ ...kafka, brokers: ['127.0.0.1:1'] }, 'stuck-publisher', logger)
  // Who handled each message, in order: a member may still handle what it fetched before a rebalance
  // took its partition (a duplicate the idempotent handlers absorb).
  const handledBy = new Map<string, string[]>()
  const member = (name: string, memberPublisher: Publisher) =>
    new ConsumerLoop({
      kafka,
      groupId,
      clientId: `${groupId}-${name}`,
      topic: Topics.stock,
      publisher: memberPublisher,
      makeDurable: async () => {},
      logger,
      handle: async (message) => {
        handledBy.set(message.sagaId, [...(handledBy.get(message.sagaId) ?? []), name])
        return { send: [{ topic: Topics.saga, message: { type: 'StockReserved', sagaId: message.sagaId, orderId: message.orderId, items: message.items } }] }
      },
      canWork: async () => {},
    })
  const [stuck, healthy] = [member('stuck', stuckPublisher), member('healthy', publisher)]
  loops.push(stuck, healthy)
  try {
    await stuck.start()
    await healthy.start()
    await waitUntil('both members to own partitions', async () => stuck.ownedPartitions().length > 0 && healthy.ownedPartitions().length > 0, 30_000, 100)
    const before = await handOvers()
    const sagaIds = Array.from({ length: 12 }, (_, i) => `stuck-${i}-${randomUUID()}`)
    await publisher.publish(sagaIds.map((sagaId) => ({ topic: Topics.stock, message: command(sagaId) })))
    // What the stuck member handled is not committed: the healthy member gets it again, and answers.
    const handledByHealthy = async () => sagaIds.every((id) => handledBy.get(id)?.includes('healthy'))
    await waitUntil('every message handled by the healthy member', handledByHealthy, 60_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(sagaIds.map((id) => handledBy.get(id)))}`)
    })
    assert.ok(sagaIds.some((id) => handledBy.get(id)![0] === 'stuck'), 'the stuck member handled messages first')
    assert.equal(await handOvers(), before + 1, 'the stuck member handed over once')
    assert.deepEqual(stuck.ownedPartitions(), [], 'the stuck member sits out while its replies cannot go out')
  } finally {
    await stuck.stop()
    await stuckPublisher.close()
  }
})

test('a loop stopped while it rejoins its group leaves no member behind', async () => {
  const groupId = `rejoin-stop-${randomUUID()}`
  let canWork = false
  const loop = new ConsumerLoop({
    kafka,
    groupId,
    clientId: groupId,
    topic: Topics.stock,
    publisher,
    makeDurable: async () => {},
    logger,
    handle: async () => ({ send: [] }),
    canWork: async () => {
      if (!canWork) throw new Error('Command timed out')
    },
  })
  loops.push(loop) // stopped by the file's `after` too, should an assertion fail first
  await loop.start()
  await waitUntil('the loop to sit out', async () => loop.sittingOut(), 30_000, 100)
  canWork = true
  await waitUntil('the loop to rejoin', async () => !loop.sittingOut(), 10_000, 10)
  await loop.stop() // while its join is under way
  const admin = new Admin({ clientId: 'group-reader', bootstrapBrokers: kafka.brokers })
  try {
    const group = (await admin.describeGroups({ groups: [groupId] })).get(groupId)
    assert.deepEqual([...(group?.members.keys() ?? [])], [], 'the member of the session opened during the stop left')
  } finally {
    await admin.close()
  }
})

test('a consumer no longer in its group commits nothing: the broker would close the connection its rejoin runs on', async () => {
  const groupId = `committer-${randomUUID()}`
  const commitFailures = () => kafkaErrors('commit')
  const consumer = createConsumer(kafka, groupId, groupId)
  const stream = await consumer.consume({ topics: [Topics.stock], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
  let commitsSent = 0
  const commit = consumer.commit.bind(consumer) as (options: Parameters<typeof consumer.commit>[0]) => Promise<void>
  consumer.commit = ((options: Parameters<typeof consumer.commit>[0]) => (commitsSent++, commit(options))) as typeof consumer.commit
  const committer = new OffsetCommitter(consumer, logger)
  const committed = async () => (await consumer.listCommittedOffsets({ topics: [{ topic: Topics.stock, partitions: [0] }] })).get(Topics.stock)?.[0]
  try {
    // As a member, the offset after the handled message is committed.
    committer.markDone([{ topic: Topics.stock, partition: 0, offset: 4n }])
    await committer.flush()
    assert.equal(commitsSent, 1)
    assert.equal(await committed(), 5n)
    // Out of the group (as after the coordinator forgot it): the client clears its member id, and a
    // commit would go out with none, a request the broker answers by closing the connection.
    await consumer.leaveGroup(true)
    assert.equal(consumer.memberId, null)
    const failuresBefore = await commitFailures()
    committer.markDone([{ topic: Topics.stock, partition: 0, offset: 9n }])
    await committer.flush()
    assert.equal(commitsSent, 1, 'no commit sent without a member id')
    assert.equal(await commitFailures(), failuresBefore, 'no commit failed')
    assert.equal(await committed(), 5n, 'the offset committed as a member stands')
  } finally {
    await stream.close().catch(() => undefined)
    await consumer.close(true)
  }
})

// With a host cut off, the order group rebalanced every second for 6 s: its leader, whose assignment
// waited on a metadata fetch, committed meanwhile; the broker failed that commit (REBALANCE_IN_PROGRESS)
// and the client answered with a JoinGroup, which came after the round had completed and began the next.
test('a commit due while its member rejoins waits for the join, which it does not repeat', async (t) => {
  const groupId = `commit-mid-join-${randomUUID()}`
  const first = createConsumer(kafka, groupId, `${groupId}-first`)
  const firstStream = await first.consume({ topics: [Topics.stock], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
  let commitsSent = 0
  const commit = first.commit.bind(first) as (options: Parameters<typeof first.commit>[0]) => Promise<void>
  first.commit = ((options: Parameters<typeof first.commit>[0]) => (commitsSent++, commit(options))) as typeof first.commit
  const committer = new OffsetCommitter(first, logger)
  const generationBefore = first.generationId
  // A second member makes the first rejoin; as the first (the leader) begins its sync, with the
  // assignment still to compute, the broker freezes for a second and a commit falls due.
  let commitsMidJoin: number | undefined
  const freezeAtSync = onStart(({ client, operation }) => {
    if (client !== first || operation !== 'syncGroup' || commitsMidJoin !== undefined) return
    commitsMidJoin = 0
    cluster.pause('kafka-1')
    committer.markDone([{ topic: Topics.stock, partition: 0, offset: 6n }])
    const sent = commitsSent
    setTimeout(() => {
      commitsMidJoin = commitsSent - sent
      cluster.resume('kafka-1')
    }, 1000)
  })
  consumerGroupChannel.subscribe(freezeAtSync)
  t.after(() => consumerGroupChannel.unsubscribe(freezeAtSync))
  const second = createConsumer(kafka, groupId, `${groupId}-second`)
  const secondStream = await second.consume({ topics: [Topics.stock], mode: 'committed', fallbackMode: 'earliest', autocommit: false })
  try {
    await waitUntil('the first member to sync', async () => commitsMidJoin !== undefined && first.isActive(), 30_000, 50)
    const committed = async () => (await first.listCommittedOffsets({ topics: [{ topic: Topics.stock, partitions: [0] }] })).get(Topics.stock)?.[0]
    await waitUntil('the offset to be committed after the join', async () => (await committed()) === 7n, 10_000, 100)
    await sleep(3000) // time for another round, had one begun
    assert.equal(commitsMidJoin, 0, 'commits sent while the member was joining')
    assert.deepEqual([first.generationId, second.generationId], [generationBefore + 1, generationBefore + 1], 'one rebalance, for the second member')
  } finally {
    for (const stream of [firstStream, secondStream]) await stream.close().catch(() => undefined)
    for (const consumer of [first, second]) await consumer.close(true)
  }
})

// A chaos run's logs seemed to show consumers joining only after the heal: the first assignment of
// every session went unlogged (the listener came after the join), and only later rebalances showed.
test("a session logs the assignment its own join got, not only the next rebalance's", async () => {
  const lines: { msg: string; partitions?: number[]; groupId?: string }[] = []
  const recording = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  const groupId = `logged-${randomUUID()}`
  const session = await openSession({ kafka, groupId, clientId: groupId, topic: Topics.stock, logger: recording })
  try {
    assert.deepEqual(lines.filter((l) => l.msg === 'partitions assigned').map((l) => [l.groupId, l.partitions]), [[groupId, [0, 1, 2]]])
  } finally {
    await closeSession(session)
  }
})
