// --observe: Prometheus scrapes every process of the topology through the exporters; the rules in
// deploy/prometheus are valid; alerts fire under faults and resolve after; every metric the Grafana
// dashboard queries is one the cluster exports.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { CheckoutApi } from '../../tools/client/api.js'
import { inRepo } from '../../tools/cluster/paths.js'
import { waitUntil } from '../../tools/cluster/probes.js'

let cluster: Cluster
let api: CheckoutApi

before(async () => {
  cluster = await startCluster({ profile: 'default', ports: 'free', observe: true })
  api = new CheckoutApi(cluster.gatewayUrl)
})

after(async () => {
  api?.close()
  await cluster?.stop()
})

async function prometheus<T>(path: string): Promise<T> {
  const response = await fetch(`${cluster.prometheusUrl}${path}`)
  assert.equal(response.status, 200, path)
  return ((await response.json()) as { data: T }).data
}

interface Alert {
  labels: Record<string, string>
  state: 'pending' | 'firing'
}
const alerts = async () => (await prometheus<{ alerts: Alert[] }>('/api/v1/alerts')).alerts

async function waitForAlert(name: string, labels: Record<string, string>, present: boolean): Promise<void> {
  const matches = (a: Alert) => a.labels.alertname === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v)
  await waitUntil(`${name} ${JSON.stringify(labels)} ${present ? 'pending or firing' : 'resolved'}`, async () => (await alerts()).some(matches) === present, 60_000, 500)
}

test('promtool accepts the rules', () => {
  for (const file of readdirSync(inRepo('deploy/prometheus')).filter((f) => f.endsWith('.yml'))) {
    const output = execFileSync('promtool', ['check', 'rules', inRepo(`deploy/prometheus/${file}`)], { encoding: 'utf8' })
    assert.match(output, /SUCCESS: \d+ rules found/, file)
  }
})

test('every process of the topology is a target, and every target is up', async () => {
  // The nginx exporter is read as the gateway's target: it has none of its own.
  const expected = cluster.processes.map((p) => p.name).filter((name) => name !== 'nginx-exporter')
  let targets: { labels: Record<string, string>; health: string }[] = []
  await waitUntil(
    'every target up',
    async () => (targets = (await prometheus<{ activeTargets: typeof targets }>('/api/v1/targets')).activeTargets).length > 0 && targets.every((t) => t.health === 'up'),
    60_000,
    500,
  )
  assert.deepEqual(targets.map((t) => t.labels.name).sort(), expected.sort())
})

// Frozen, not killed: a killed broker is restarted at once, and its exporter (an agent in the same JVM)
// could answer again before a scrape (every 2 s) saw it gone.
test('a Kafka broker that does not answer: KafkaBrokerDown fires, and resolves once it is back', async () => {
  await waitForAlert('KafkaBrokerDown', {}, false)
  cluster.pause('kafka-1')
  try {
    await waitForAlert('KafkaBrokerDown', { name: 'kafka-1' }, true)
  } finally {
    cluster.resume('kafka-1')
  }
  await waitForAlert('KafkaBrokerDown', { name: 'kafka-1' }, false)
})

test("the stock Redis frozen: its group has no master, and has one again once it is resumed", async () => {
  cluster.pause('redis-stock-1')
  try {
    await waitForAlert('RedisGroupWithoutMaster', { group: 'stock' }, true)
  } finally {
    cluster.resume('redis-stock-1')
  }
  await waitForAlert('RedisGroupWithoutMaster', { group: 'stock' }, false)
})

/** The metric names an expression reads (not its functions, keywords, labels or ranges). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const keywords = new Set(['and', 'or', 'unless', 'offset', 'bool'])
  return [...bare.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)].filter((m) => !m[2] && !keywords.has(m[1]!)).map((m) => m[1]!)
}

test('every metric the dashboard queries is exported', async () => {
  // Some traffic first, so that histograms and counters of checkouts exist.
  const item = await api.createItem(1)
  await api.addStock(item, 10)
  for (let i = 0; i < 5; i++) {
    const user = await api.createUser()
    await api.addFunds(user, 10)
    const order = await api.createOrder(user)
    await api.addItem(order, item, 1)
    assert.equal((await api.checkout(order)).status, 200)
  }
  const dashboard = JSON.parse(readFileSync(inRepo('deploy/grafana/checkout-system.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] }
  const queried = [...new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr))))].sort()
  assert.ok(queried.length >= 15, queried.join(' '))
  let missing: string[] = []
  await waitUntil(
    'every queried metric exported',
    async () => {
      const exported = new Set(await prometheus<string[]>('/api/v1/label/__name__/values'))
      missing = queried.filter((name) => !exported.has(name))
      return missing.length === 0
    },
    30_000,
    1000,
  ).catch(() => assert.deepEqual(missing, [], 'metrics the dashboard queries and nothing exports'))
})
