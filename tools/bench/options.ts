// The command line of `npm run bench -- [options]`, parsed into one validated, typed object.
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { repoRoot } from '../cluster/paths.js'
import { LOAD_MODES, type LoadMode } from './load.js'
import { WORKLOAD_NAMES, type WorkloadName } from './workloads.js'

export const USAGE = `usage: npm run bench -- [options]
Target (one of):
  --url URL              a running gateway (default http://127.0.0.1:8000)
  --start PROFILE        start a cluster of this profile (default, ha, hosts) on free ports, and stop it at the end
Workload:
  --workload stress      WDM stress: checkouts of random orders of --orders (most end "already paid") [default]
  --workload fresh       every checkout is of a never-paid order, so each runs the whole saga
  --orders N             orders (and users, items) to batch_init; default: stress 100000,
                         fresh open loop rate*(warmup+duration)*1.2, fresh closed loop 100000
Load:
  --mode closed          --connections workers, each sending when its previous checkout is answered [default]
  --mode open            --rate checkouts/s at fixed times, latency from the intended send time
  --connections N        closed loop workers (default 64)
  --rate N               open loop checkouts per second (default 1000)
  --max-inflight N       open loop: skip (and count) a due checkout while N are outstanding (default 1000)
  --duration S           measured seconds (default 30)
  --warmup S             seconds of load before measuring (default 5)
  --timeout S            a checkout not answered by then counts as a timeout (default 30)
Output:
  --out DIR              results folder (default results/<timestamp>-<workload>-<mode>/)
  --events FILE          JSON lines {"t": epoch_ms, "label": "..."}: drawn as markers in the report
  --cpu                  CPU per checkout of every cluster process over the window, per process and role
                         (from /proc; with --url it reads the cluster of --run-dir, default run/current)
  --run-dir DIR          the run folder of the cluster behind --url, for --cpu`

export type ProfileToStart = 'default' | 'ha' | 'hosts'

/** Either a running gateway's URL, or the profile of a cluster the bench starts itself. */
export type Target = { url: string; start: null } | { url: null; start: ProfileToStart }

export type BenchOptions = Target & {
  workload: WorkloadName
  orders: number
  mode: LoadMode
  connections: number
  rate: number
  maxInflight: number
  durationSeconds: number
  warmupSeconds: number
  timeoutSeconds: number
  outDir: string
  eventsFile: string | null
  cpu: boolean
  /** With --url and --cpu: the run folder whose cluster.json lists the processes. */
  runDir: string
}

const DEFAULT_URL = 'http://127.0.0.1:8000'
/** The number of orders the WDM stress test creates. */
const WDM_ORDERS = 100_000
/** Fresh, open loop: 20% more orders than the run can ask for, in case the schedule catches up late. */
const FRESH_ORDER_MARGIN = 1.2

export class UsageError extends Error {}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got ${value}`)
  return value as T
}

function positiveNumber(flag: string, text: string, { integer = false, allowZero = false } = {}): number {
  const value = Number(text)
  const valid = Number.isFinite(value) && (allowZero ? value >= 0 : value > 0) && (!integer || Number.isInteger(value))
  if (!valid) throw new UsageError(`--${flag} must be a ${allowZero ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}; got ${text}`)
  return value
}

function gatewayOrigin(text: string): string {
  try {
    return new URL(text).origin
  } catch {
    throw new UsageError(`--url must be a URL such as ${DEFAULT_URL}; got ${text}`)
  }
}

function defaultOutDir(workload: WorkloadName, mode: LoadMode): string {
  const timestamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)
  return join(repoRoot, 'results', `${timestamp}-${workload}-${mode}`)
}

/** The options, or null when --help was asked for. */
export function parseOptions(args: string[]): BenchOptions | null {
  const { values: flags } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      start: { type: 'string' },
      workload: { type: 'string', default: 'stress' },
      orders: { type: 'string' },
      mode: { type: 'string', default: 'closed' },
      connections: { type: 'string', default: '64' },
      rate: { type: 'string', default: '1000' },
      'max-inflight': { type: 'string', default: '1000' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '5' },
      timeout: { type: 'string', default: '30' },
      out: { type: 'string' },
      events: { type: 'string' },
      cpu: { type: 'boolean', default: false },
      'run-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (flags.help) return null
  if (flags.url !== undefined && flags.start !== undefined) throw new UsageError('give --url or --start, not both')
  const target: Target =
    flags.start === undefined ? { url: gatewayOrigin(flags.url ?? DEFAULT_URL), start: null } : { url: null, start: oneOf('start', flags.start, ['default', 'ha', 'hosts'] as const) }
  const workload = oneOf('workload', flags.workload, WORKLOAD_NAMES)
  const mode = oneOf('mode', flags.mode, LOAD_MODES)
  const rate = positiveNumber('rate', flags.rate)
  const durationSeconds = positiveNumber('duration', flags.duration)
  const warmupSeconds = positiveNumber('warmup', flags.warmup, { allowZero: true })
  const freshOpenLoopOrders = Math.ceil(rate * (warmupSeconds + durationSeconds) * FRESH_ORDER_MARGIN)
  const defaultOrders = workload === 'fresh' && mode === 'open' ? freshOpenLoopOrders : WDM_ORDERS
  return {
    ...target,
    workload,
    orders: flags.orders === undefined ? defaultOrders : positiveNumber('orders', flags.orders, { integer: true }),
    mode,
    connections: positiveNumber('connections', flags.connections, { integer: true }),
    rate,
    maxInflight: positiveNumber('max-inflight', flags['max-inflight'], { integer: true }),
    durationSeconds,
    warmupSeconds,
    timeoutSeconds: positiveNumber('timeout', flags.timeout),
    outDir: resolve(flags.out ?? defaultOutDir(workload, mode)),
    eventsFile: flags.events === undefined ? null : resolve(flags.events),
    cpu: flags.cpu,
    runDir: resolve(flags['run-dir'] ?? join(repoRoot, 'run', 'current')),
  }
}
