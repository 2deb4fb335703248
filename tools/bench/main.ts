// `npm run bench -- [options]`: loads the checkout endpoint of a gateway (or of a cluster it starts and
// stops itself) with one workload in one load mode, shows progress every second, then prints a summary
// and writes result.json and report.html. Options: see USAGE in options.ts.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CheckoutApi } from '../client/api.js'
import { startCluster, type Cluster } from '../cluster/cluster.js'
import type { ProcessStatus } from '../cluster/processes.js'
import { readState } from '../cluster/state.js'
import { CpuProbe, type CpuReport } from './cpu.js'
import { runLoad } from './load.js'
import { parseOptions, UsageError, USAGE, type BenchOptions } from './options.js'
import { startProgress } from './progress.js'
import { renderReport } from './report.js'
import { buildSummary, describeLoad, formatSummary, machineInfo, readEvents, type BenchResult, type FaultEvent } from './results.js'
import { Recorder } from './stats.js'
import { createWorkload } from './workloads.js'

const EXIT_INTERRUPTED = 130

const log = (line: string) => process.stderr.write(`bench: ${line}\n`)

function writeResults(result: BenchResult): void {
  mkdirSync(result.options.outDir, { recursive: true })
  writeFileSync(join(result.options.outDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`)
  writeFileSync(join(result.options.outDir, 'report.html'), renderReport(result))
}

/** Read only after the load: the chaos tool appends to the file while the load runs. */
function faultEvents(file: string | null): FaultEvent[] {
  if (file === null) return []
  if (existsSync(file)) return readEvents(file, log)
  log(`no events file at ${file}; no markers drawn`)
  return []
}

/** Prepares the data, runs the load and reports it; an interrupted run still reports what it measured. */
/**
 * Starts the CPU probe when the window opens and reads it when the window closes (or the load ends
 * early); returns how to get its report once the load is over.
 */
function probeWindow(processes: () => ProcessStatus[], recorder: Recorder, openAtMs: number, closeAtMs: number): () => CpuReport | undefined {
  const probe = new CpuProbe(processes)
  let report: CpuReport | undefined
  const close = () => (report ??= probe.started ? probe.stop(recorder.answeredInWindow) : undefined)
  const timers = [setTimeout(() => probe.start(), openAtMs), setTimeout(close, closeAtMs)]
  return () => {
    for (const timer of timers) clearTimeout(timer)
    return close()
  }
}

async function bench(options: BenchOptions, gatewayUrl: string, stop: AbortSignal, processes: () => ProcessStatus[]): Promise<number> {
  // One socket per worker (closed loop) or per outstanding checkout (open loop): none waits for a socket.
  const api = new CheckoutApi(gatewayUrl, options.mode === 'closed' ? options.connections : options.maxInflight)
  try {
    const workload = createWorkload(options.workload, options.orders)
    log(`batch_init: ${options.orders} users, items and orders`)
    const batchInit = await workload.prepare(api, log)
    if (stop.aborted) return EXIT_INTERRUPTED

    const warmupMs = options.warmupSeconds * 1000
    const durationMs = options.durationSeconds * 1000
    const recorder = new Recorder(warmupMs, warmupMs + durationMs)
    const phaseAt = (ms: number) => (ms < warmupMs ? 'warm-up' : ms < warmupMs + durationMs ? 'measure' : 'drain')
    log(`${describeLoad(options)}; Ctrl-C stops early and still reports`)
    const stopProgress = startProgress(recorder, phaseAt, (line) => process.stderr.write(`${line}\n`))
    const plan = { ...options, warmupMs, durationMs, timeoutMs: options.timeoutSeconds * 1000 }
    const cpuReport = options.cpu ? probeWindow(processes, recorder, warmupMs, warmupMs + durationMs) : () => undefined
    const load = await runLoad(api, () => workload.nextOrder(), plan, recorder, stop).finally(stopProgress)
    const cpu = cpuReport()

    const result: BenchResult = {
      options,
      gatewayUrl,
      machine: machineInfo(),
      loadStartedAt: new Date(recorder.startedAtEpochMs).toISOString(),
      loadStartedAtEpochMs: recorder.startedAtEpochMs,
      batchInit,
      summary: buildSummary(recorder.window(), load, options),
      series: recorder.series(),
      events: faultEvents(options.eventsFile),
      ...(cpu ? { cpu } : {}),
    }
    writeResults(result)
    console.log(formatSummary(result))
    return load.stoppedEarly === 'interrupted' ? EXIT_INTERRUPTED : 0
  } finally {
    api.close()
  }
}

async function main(): Promise<number> {
  let options: BenchOptions | null
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (error) {
    // parseArgs throws a TypeError for an unknown or malformed flag.
    if (!(error instanceof UsageError || error instanceof TypeError)) throw error
    process.stderr.write(`${error.message}\n${USAGE}\n`)
    return 2
  }
  if (!options) {
    console.log(USAGE)
    return 0
  }

  const stop = new AbortController()
  let cluster: Cluster | undefined
  let clusterStarting = false
  const onSignal = (signal: NodeJS.Signals) => {
    // While a cluster starts, or on a second signal, quit at once: the cluster's exit hook kills its processes.
    if (clusterStarting || stop.signal.aborted) process.exit(EXIT_INTERRUPTED)
    log(`${signal}: stopping the load (again to quit at once)`)
    stop.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    if (options.start === null) return await bench(options, options.url, stop.signal, () => readState(options.runDir).processes)
    log(`starting a ${options.start} cluster on free ports`)
    clusterStarting = true
    cluster = await startCluster({ profile: options.start, ports: 'free', log: (line) => log(`cluster: ${line}`) })
    clusterStarting = false
    log(`cluster ready: gateway ${cluster.gatewayUrl}, run folder ${cluster.runDir}`)
    const started = cluster
    return await bench(options, cluster.gatewayUrl, stop.signal, () => started.processes)
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  } finally {
    if (cluster) {
      log('stopping the cluster')
      await cluster.stop()
      log('cluster stopped')
    }
  }
}

process.exit(await main())
