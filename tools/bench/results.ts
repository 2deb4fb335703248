// A run's result: what result.json holds, the summary printed at the end, and the fault events file.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { relative } from 'node:path'
import { formatCpu, type CpuReport } from './cpu.js'
import type { LoadResult, StopReason } from './load.js'
import type { BenchOptions } from './options.js'
import { OUTCOME_CLASSES, type LatencySummary, type OutcomeClass, type SecondStats, type WindowStats } from './stats.js'
import type { BatchInitTiming } from './workloads.js'

export interface MachineInfo {
  cpus: number
  cpuModel: string
  totalMemoryBytes: number
  node: string
  os: string
  date: string
}

/** A fault injected during the run (the chaos tool writes them), at epoch milliseconds `t`. */
export interface FaultEvent {
  t: number
  label: string
}

export interface Summary {
  /** The measurement window, shorter than --duration when the run stopped early. */
  measuredSeconds: number
  stoppedEarly: StopReason | null
  /** Checkouts sent in the window (each waited for, however late it finished). */
  requests: number
  /** Checkouts answered with any HTTP status, per second of the window. */
  answeredPerSecond: number | null
  succeededPerSecond: number | null
  classes: Record<OutcomeClass, number>
  outcomes: Record<string, number>
  skipped: number
  lateSends: number
  latency: { answered: LatencySummary; succeeded: LatencySummary }
}

export interface BenchResult {
  options: BenchOptions
  gatewayUrl: string
  machine: MachineInfo
  /** When the load (its warm-up) started: second 0 of the series. */
  loadStartedAt: string
  loadStartedAtEpochMs: number
  batchInit: BatchInitTiming[]
  summary: Summary
  series: SecondStats[]
  events: FaultEvent[]
  /** With --cpu: the cluster's CPU over the window, per process and role. */
  cpu?: CpuReport
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  }
}

export function buildSummary(window: WindowStats, load: LoadResult, options: BenchOptions): Summary {
  const warmupMs = options.warmupSeconds * 1000
  const windowEndMs = Math.min(warmupMs + options.durationSeconds * 1000, load.stoppedEarly ? load.lastIntendedAtMs : Infinity)
  const measuredSeconds = Math.max(0, (windowEndMs - warmupMs) / 1000)
  const perSecond = (count: number) => (measuredSeconds > 0 ? count / measuredSeconds : null)
  const answered = window.classes['2xx'] + window.classes['4xx'] + window.classes['5xx']
  return {
    measuredSeconds,
    stoppedEarly: load.stoppedEarly,
    requests: window.requests,
    answeredPerSecond: perSecond(answered),
    succeededPerSecond: perSecond(window.classes['2xx']),
    classes: window.classes,
    outcomes: window.outcomes,
    skipped: window.skipped,
    lateSends: load.lateSends,
    latency: { answered: window.answered, succeeded: window.succeeded },
  }
}

/** Reads the JSON lines the chaos tool appends; a line that is not an event is reported and left out. */
export function readEvents(file: string, warn: (line: string) => void): FaultEvent[] {
  const events: FaultEvent[] = []
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (!line.trim()) return
      try {
        const { t, label } = JSON.parse(line) as Partial<FaultEvent>
        if (typeof t === 'number' && typeof label === 'string') return void events.push({ t, label })
      } catch {
        // reported below like any other malformed line
      }
      warn(`${file}:${index + 1}: not an event {"t": epoch_ms, "label": "..."}, left out`)
    })
  return events.sort((a, b) => a.t - b.t)
}

export const formatNumber = (value: number | null, digits = 1): string => (value === null ? '-' : value.toFixed(digits))

export function describeLoad(options: BenchOptions): string {
  const load = options.mode === 'closed' ? `closed loop, ${options.connections} connections` : `open loop, ${options.rate}/s (max ${options.maxInflight} in flight)`
  return `${options.workload} workload (${options.orders} orders), ${load}, ${options.durationSeconds} s measured after ${options.warmupSeconds} s warm-up`
}

/** Relative when under the working directory, where it reads shorter. */
const shownPath = (path: string) => (path.startsWith(`${process.cwd()}/`) ? relative(process.cwd(), path) : path)

export function formatSummary(result: BenchResult): string {
  const { summary, options } = result
  const latencyLine = (latency: LatencySummary) =>
    `p50 ${formatNumber(latency.p50Ms)}  p90 ${formatNumber(latency.p90Ms)}  p99 ${formatNumber(latency.p99Ms)}  max ${formatNumber(latency.maxMs)}  (${latency.count} answers)`
  const percent = (count: number) => (summary.requests ? `${((100 * count) / summary.requests).toFixed(1)}%` : '-')
  const outcomes = Object.entries(summary.outcomes)
    .sort(([, a], [, b]) => b - a)
    .map(([key, count]) => `    ${key.padEnd(24)} ${String(count).padStart(8)}  ${percent(count)}`)
  const lines = [
    `checkout bench against ${result.gatewayUrl}: ${describeLoad(options)}`,
    ...(summary.stoppedEarly ? [`  STOPPED EARLY (${summary.stoppedEarly}) after ${formatNumber(summary.measuredSeconds)} s measured`] : []),
    `  checkouts sent     ${summary.requests} in ${formatNumber(summary.measuredSeconds)} s`,
    `  throughput         ${formatNumber(summary.answeredPerSecond)} answered/s, ${formatNumber(summary.succeededPerSecond)} 2xx/s`,
    `  latency ms, all    ${latencyLine(summary.latency.answered)}`,
    `  latency ms, 2xx    ${latencyLine(summary.latency.succeeded)}`,
    `  statuses           ${OUTCOME_CLASSES.map((outcomeClass) => `${outcomeClass} ${summary.classes[outcomeClass]}`).join('  ')}`,
    ...outcomes,
    ...(options.mode === 'open' ? [`  skipped            ${summary.skipped} (due while ${options.maxInflight} were in flight)`, `  late sends         ${summary.lateSends} (generator behind schedule)`] : []),
    ...(result.cpu ? formatCpu(result.cpu) : []),
    `  batch_init         ${result.batchInit.map(({ path, ms }) => `${path.split('/')[1]} ${ms} ms`).join(', ')}`,
    `  results            ${shownPath(options.outDir)}/{result.json,report.html}`,
  ]
  return lines.join('\n')
}
