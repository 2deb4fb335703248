// The ha profile (3 Kafka nodes, Redis master + 2 replicas per group under 3 Sentinels, 3 replicas of
// each service, 2 orchestrators) with one process SIGKILLed while checkouts run: every checkout gets
// its true outcome, and no stock or money is created or lost.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { redisNode } from '../../tools/chaos/faults.js'
import { waitUntil } from '../../tools/cluster/probes.js'
import { useCluster } from '../support/cluster.js'
import { assertExactlyStockSold, checkoutAll, populate } from '../support/conservation.js'

const env = useCluster('ha')

/** Checkouts of `users` one-unit orders against `stock` units, with `fault` struck once they run. */
async function checkoutsThrough(fault: () => Promise<void>, stock = 100, users = 200): Promise<void> {
  const world = await populate(env.api, stock, users)
  const running = checkoutAll(env.api, world, 50)
  await sleep(200)
  await fault()
  // checkoutAll rejects on a reset connection: a fault that reached the client fails the test here.
  await assertExactlyStockSold(env.api, world, await running, stock)
}

test('warm-up: the consumer groups settle and checkouts go through', async () => {
  await checkoutsThrough(async () => {}, 20, 40)
})

test('an order replica killed mid-checkout: nginx retries its requests on another replica', async () => {
  const before = env.cluster.processes.find((p) => p.name === 'order-1')!.restarts
  await checkoutsThrough(async () => env.cluster.kill('order-1'))
  await env.cluster.waitReady('order-1')
  assert.equal(env.cluster.processes.find((p) => p.name === 'order-1')!.restarts, before + 1)
})

test('the stock Redis master killed mid-run: Sentinel promotes a replica and nothing acknowledged is lost', async () => {
  const master = await redisNode(env.cluster, 'stock', 'master')
  await checkoutsThrough(async () => env.cluster.kill(master))
  await waitUntil('a replica to be promoted', async () => (await redisNode(env.cluster, 'stock', 'master')) !== master, 20_000)
})

test('a Kafka broker killed mid-run', async () => {
  await checkoutsThrough(async () => env.cluster.kill('kafka-2'))
  await env.cluster.waitReady('kafka-2')
})

test("the gateway's master killed mid-run: no request fails", async () => {
  const before = env.cluster.processes.find((p) => p.name === 'gateway')!.pid
  await checkoutsThrough(async () => env.cluster.kill('gateway'))
  await env.cluster.waitReady('gateway')
  assert.notEqual(env.cluster.processes.find((p) => p.name === 'gateway')!.pid, before)
})
