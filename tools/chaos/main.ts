// npm run chaos: a consistency workload on a real cluster while, in turn, one process of every role is
// killed, and then one of every role frozen past every failure timeout; then conservation is audited.
// Prints per fault: requests, 2xx/4xx/5xx/resets, the longest stall a client saw, violations, and the
// processes other than the victim that restarted. Exit 1 on any violation.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { CheckoutApi } from '../client/api.js'
import { startCluster, type ProfileName } from '../cluster/cluster.js'
import { waitUntil } from '../cluster/probes.js'
import { audit, type Violation } from './audit.js'
import { faultPlan, networkFaultPlan, sentinelsSettled } from './faults.js'
import { openShop, ShopTraffic, type CheckoutRecord, type Exchange } from './workload.js'

const { values: options } = parseArgs({
  options: {
    profile: { type: 'string', default: 'ha' },
    window: { type: 'string', default: '12' },
    workers: { type: 'string', default: '16' },
    items: { type: 'string', default: '20' },
    users: { type: 'string', default: '200' },
    'pause-ms': { type: 'string', default: '8000' },
    /** Only the faults whose label contains one of these (comma-separated), e.g. "kafka,gateway". */
    faults: { type: 'string' },
    out: { type: 'string' },
  },
})

/** After a victim is back, time for it to catch up (a Kafka broker rejoining its partitions' ISRs). */
const SETTLE_MS = 2000
const DRAIN_LIMIT_MS = 90_000
const SENTINELS_SETTLE_LIMIT_MS = 60_000

interface Window {
  label: string
  action: string
  /** The process the fault hit; the others must not restart during its window. */
  victim?: string
  start: number
  end: number
  restartsAtStart: Map<string, number>
  /** Processes other than the victim that restarted during the window. */
  otherRestarts: string[]
}

async function main(): Promise<number> {
  const windowMs = Number(options.window) * 1000
  const out = options.out ?? join('results', `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(out, { recursive: true })
  log(`starting the ${options.profile} profile on free ports`)
  const cluster = await startCluster({ profile: options.profile as ProfileName, ports: 'free', runDir: join(out, 'run') })
  // First signal: stop the cluster in order. A second one: exit now (the launcher's exit hook kills
  // every process it started).
  let signalled = false
  const stopCluster = () => {
    if (signalled) process.exit(130)
    signalled = true
    void cluster.stop().finally(() => process.exit(130))
  }
  process.on('SIGINT', stopCluster)
  process.on('SIGTERM', stopCluster)
  const api = new CheckoutApi(cluster.gatewayUrl)
  try {
    const shop = await openShop(api, Number(options.items), Number(options.users))
    const traffic = new ShopTraffic(api, shop)
    const running = traffic.run(Number(options.workers))
    const windows: Window[] = []
    const restarts = () => new Map(cluster.processes.map((p) => [p.name, p.restarts]))
    const closeWindow = () => {
      const last = windows.at(-1)
      if (!last) return
      last.end = Date.now()
      const now = restarts()
      last.otherRestarts = [...now].filter(([name, count]) => name !== last.victim && count > (last.restartsAtStart.get(name) ?? 0)).map(([name]) => name)
    }
    const begin = (label: string, action: string, victim?: string) => {
      closeWindow()
      windows.push({ label, action, victim, start: Date.now(), end: Date.now(), restartsAtStart: restarts(), otherRestarts: [] })
      log(`${label}: ${action}`)
    }
    // Right after start-up the consumer groups are still settling (each replica joining rebalances
    // its group): that is reported on its own row, before the baseline.
    begin('warm-up', 'no fault')
    await sleep(windowMs)
    begin('baseline', 'no fault')
    await sleep(windowMs)
    const only = options.faults?.split(',').map((s) => s.trim())
    const plan = [...faultPlan(Number(options['pause-ms'])), ...networkFaultPlan(cluster)].filter((f) => !only || only.some((s) => f.label.includes(s)))
    for (const fault of plan) {
      const struck = await fault.strike(cluster).catch((error: Error) => log(`${fault.label}: could not strike (${error.message}); skipped`))
      if (!struck) continue
      const { victim, action } = struck
      begin(fault.label, action, victim)
      // A network fault heals itself after it lasted; its window also covers the recovery after.
      await sleep((fault.lastsMs ?? 0) + windowMs)
      // One fault at a time: the next strikes only once the victim is back (a restarted Kafka broker
      // needs a while; killing a second one before it rejoined would be a double fault).
      if (victim) await cluster.waitReady(victim)
      // Nor before every Sentinel's view of Redis is current again (see sentinelsSettled).
      await waitUntil("every Sentinel's view to be current", () => sentinelsSettled(cluster), SENTINELS_SETTLE_LIMIT_MS, 500).catch((error: Error) => log(`${error.message}; going on`))
      await sleep(SETTLE_MS)
    }
    begin('recovery', 'no fault')
    await sleep(windowMs)
    traffic.stop()
    // A checkout that never gets a definite answer is a failure of its own; do not wait for ever.
    await Promise.race([running, sleep(DRAIN_LIMIT_MS)])
    closeWindow()

    log('auditing conservation')
    const neverAnswered: Violation[] = [...traffic.pending].map(([orderId, at]) => ({
      kind: 'outcome',
      id: orderId,
      at,
      detail: `no definite answer ${Math.round((Date.now() - at) / 1000)} s after the first attempt`,
    }))
    const violations = [...neverAnswered, ...(await audit(api, shop, traffic.checkouts))]
    const rows = windows.map((w) => summarize(w, traffic.exchanges, traffic.checkouts, violations))
    printTable(rows)
    const checkouts = traffic.checkouts.length
    const unanswered = traffic.checkouts.filter((c) => c.attempts[0]! === 0 || c.attempts[0]! >= 500).length
    const longest = Math.max(...rows.slice(1).map((r) => r.longestStallMs))
    const paid = traffic.checkouts.filter((c) => c.attempts.at(-1)! < 300).length
    const collateral = rows.flatMap((r) => r.otherRestarts.map((name) => `${name} (during ${r.fault})`))
    console.log(
      `\n${checkouts} checkouts (${paid} paid, ${checkouts - paid} refused), ${unanswered} (${((100 * unanswered) / Math.max(1, checkouts)).toFixed(2)}%) first answered 5xx or reset; ` +
        `longest stall after warm-up ${(longest / 1000).toFixed(1)} s; ${violations.length} violations; ` +
        `restarts beyond the victims: ${collateral.length ? collateral.join(', ') : 'none'}`,
    )
    for (const v of violations.slice(0, 20)) console.log(`  violation ${v.kind} ${v.id}: ${v.detail}`)
    const failures = new Map<string, number>()
    for (const { failure } of traffic.exchanges) if (failure) failures.set(failure, (failures.get(failure) ?? 0) + 1)
    for (const [failure, count] of failures) console.log(`  no answer: ${count} x ${failure}`)
    writeFileSync(join(out, 'chaos.json'), JSON.stringify({ options, windows: rows, violations, checkouts: traffic.checkouts }, null, 2))
    writeFileSync(join(out, 'events.jsonl'), windows.map((w) => JSON.stringify({ t: w.start, label: `${w.label}: ${w.action}` })).join('\n') + '\n')
    log(`results in ${out}`)
    return violations.length === 0 ? 0 : 1
  } finally {
    api.close()
    await cluster.stop()
  }
}

interface Row {
  fault: string
  action: string
  requests: number
  ok: number
  refused: number
  failed: number
  resets: number
  longestStallMs: number
  violations: number
  otherRestarts: string[]
}

function summarize(w: Window, exchanges: Exchange[], checkouts: CheckoutRecord[], violations: Violation[]): Row {
  const inside = (at: number) => at >= w.start && at < w.end
  // Counted where each exchange ended: a request sent just before the gateway is killed is reset by
  // that kill, not by the fault before it.
  const ended = exchanges.filter((e) => inside(e.at + e.latencyMs))
  return {
    fault: w.label,
    action: w.action,
    requests: ended.length,
    ok: ended.filter((e) => e.status >= 200 && e.status < 300).length,
    refused: ended.filter((e) => e.status >= 400 && e.status < 500).length,
    failed: ended.filter((e) => e.status >= 500).length,
    resets: ended.filter((e) => e.status === 0).length,
    // What a client waited from its first attempt to a definite answer, retries included; counted where
    // the wait ended, so a checkout sent just before a fault strikes counts under that fault.
    longestStallMs: Math.max(
      0,
      ...checkouts.filter((c) => inside(c.endedAt)).map((c) => c.endedAt - c.startedAt),
      ...exchanges.filter((e) => inside(e.at + e.latencyMs)).map((e) => e.latencyMs),
    ),
    violations: violations.filter((v) => v.at !== undefined && inside(v.at)).length,
    otherRestarts: w.otherRestarts,
  }
}

function printTable(rows: Row[]): void {
  const header = ['fault', 'requests', '2xx', '4xx', '5xx', 'resets', 'longest stall', 'violations', 'other restarts']
  const lines = rows.map((r) =>
    [r.fault, r.requests, r.ok, r.refused, r.failed, r.resets, `${(r.longestStallMs / 1000).toFixed(1)} s`, r.violations, r.otherRestarts.join(',') || '-'].map(String),
  )
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const format = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log(format(header))
  for (const line of lines) console.log(format(line))
}

function log(message: string): void {
  process.stderr.write(`chaos: ${message}\n`)
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack)
    process.exit(2)
  },
)
