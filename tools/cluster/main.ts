// The cluster CLI: up | ps | kill | pause | resume | partition | netem | heal | dlq | down. See usage below.
import { existsSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import { constants } from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { defaultRunDir, startCluster, type Cluster } from './cluster.js'
import { readCredentials } from './credentials.js'
import { formatDeadLetter, readDeadLetters } from './dead-letters.js'
import { endLeftovers } from './leftovers.js'
import { exportDeployment } from './export/export.js'
import { cut, degradeLink, heal, type HostNetwork } from './network.js'
import { processGroupOf } from './proc.js'
import { repoRoot } from './paths.js'
import { sendSignal, type ProcessStatus } from './processes.js'
import { SERVICE_ROLES, type ServiceRole } from './roles.js'
import { isAlive, readState, stateFile, supervisorRunning, type ClusterState } from './state.js'
import { PROFILES, type ProfileName } from './topology.js'

const USAGE = `usage: node dist/tools/cluster/main.js <command>
  up [--profile default|ha|hosts] [--run-dir DIR] [--base-port N] [--observe]
                                                              start and supervise a cluster (Ctrl-C stops it);
                                                              --observe: Prometheus too, scraping every process
  ps [--json]                                                 the processes of the current cluster, with metrics URLs
  kill NAME [SIGNAL] [--group]                                signal a process (default SIGKILL); it is restarted
                                                              --group: its whole process group (nginx workers too)
  pause NAME | resume NAME                                    SIGSTOP / SIGCONT a process
  partition HOST[,HOST...] [--from HOST[,HOST...]] [--oneway]  (hosts profile) cut the listed hosts from every other
                                                              host and the gateway, or only from --from;
                                                              --oneway: drop only what the first side sends
  netem HOST [--delay 200ms [--jitter 50ms] | --rate 1mbit] [--loss 5%]
                                                              (hosts profile) make a host's link slow and lossy
                                                              (--delay needs the kernel's netem; --rate does not)
  heal                                                        (hosts profile) undo every partition and netem
  dlq [--json]                                                the messages set aside on the dead-letter topic
  down                                                        stop the current cluster
  export compose|k8s                                          write the ha profile's deployment manifests into deploy/
Options for every command: --run-dir DIR (default run/current). Env: GATEWAY_PORT, PROMETHEUS_PORT, CLUSTER_BASE_PORT.`

const currentLink = join(repoRoot, 'run', 'current')

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    profile: { type: 'string', default: 'default' },
    'run-dir': { type: 'string' },
    'base-port': { type: 'string' },
    json: { type: 'boolean', default: false },
    group: { type: 'boolean', default: false },
    observe: { type: 'boolean', default: false },
    from: { type: 'string' },
    oneway: { type: 'boolean', default: false },
    delay: { type: 'string' },
    jitter: { type: 'string' },
    loss: { type: 'string' },
    rate: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
const [command, ...args] = positionals

function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(1)
}

/** The run folder a command acts on: --run-dir, else the one `run/current` points to. */
function chosenRunDir(): string {
  if (flags['run-dir']) return resolve(flags['run-dir'])
  if (!existsSync(currentLink)) fail('no current cluster (run/current is missing); start one with `up`')
  return resolve(dirname(currentLink), readlinkSync(currentLink))
}

/** A path as short as it reads well: relative when under the working directory. */
const shown = (path: string) => (path.startsWith(process.cwd() + '/') ? relative(process.cwd(), path) : path)

function pointCurrentAt(runDir: string): void {
  mkdirSync(dirname(currentLink), { recursive: true })
  rmSync(currentLink, { force: true })
  const target = dirname(runDir) === dirname(currentLink) ? basename(runDir) : runDir
  symlinkSync(target, currentLink)
}

async function up(): Promise<void> {
  const profile = flags.profile as ProfileName
  if (!(profile in PROFILES)) fail(`unknown profile ${profile}; known: ${Object.keys(PROFILES).join(', ')}`)
  const runDir = resolve(flags['run-dir'] ?? defaultRunDir(profile))
  const basePortText = flags['base-port'] ?? process.env.CLUSTER_BASE_PORT
  const basePort = basePortText === undefined ? undefined : Number(basePortText)
  if (basePort !== undefined && !(Number.isInteger(basePort) && basePort > 0 && basePort < 65000)) fail(`bad base port ${basePortText}`)
  const log = (line: string) => process.stderr.write(`cluster: ${line}\n`)
  await endPreviousLeftovers(runDir, log)
  log(`starting profile ${profile} in ${shown(runDir)}`)
  let cluster: Cluster | undefined
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    // Still starting: exit at once; the cluster's exit hook kills what was started.
    if (!cluster) process.exit(130)
    log(`${signal}: stopping every process`)
    await cluster.stop()
    log('stopped')
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  cluster = await startCluster({ profile, runDir, basePort, log, observe: flags.observe }).catch((error: Error) =>
    fail(`cluster: failed to start: ${error.message}`),
  )
  // Only now: a cluster that failed to start must not take run/current from one that runs.
  pointCurrentAt(runDir)
  const prometheus = cluster.prometheusUrl ? `, prometheus ${cluster.prometheusUrl}` : ''
  console.log(`ready: gateway ${cluster.gatewayUrl}${prometheus} (profile ${profile}, run folder ${shown(runDir)})`)
}

/**
 * A previous cluster (in this run folder, or the one run/current points at) whose supervisor died
 * without stopping it, and whose reaper could not end it either, left processes holding the ports:
 * end them, as `down` would, before starting.
 */
async function endPreviousLeftovers(runDir: string, log: (line: string) => void): Promise<void> {
  const candidates = [runDir, ...(existsSync(currentLink) ? [resolve(dirname(currentLink), readlinkSync(currentLink))] : [])]
  for (const dir of new Set(candidates)) {
    if (!existsSync(stateFile(dir))) continue
    const previous = readState(dir)
    if (supervisorRunning(previous)) continue // a live cluster: the port check reports it
    const ended = await endLeftovers(previous)
    if (ended > 0) log(`stopped ${ended} process groups left by the cluster in ${shown(dir)} (its supervisor ${previous.supervisorPid} is gone)`)
  }
}

/** Where a service process serves its Prometheus metrics (null for other processes). */
function metricsUrl({ role, address, port }: ProcessStatus): string | null {
  return SERVICE_ROLES.includes(role as ServiceRole) && port !== null ? `http://${address}:${port}/metrics` : null
}

function ps(state: ClusterState): void {
  const rows = state.processes.map((entry) => ({ ...entry, alive: isAlive(entry.pid), metrics: metricsUrl(entry) }))
  if (flags.json) {
    console.log(JSON.stringify(rows, null, 2))
    return
  }
  const supervisor = supervisorRunning(state) ? `supervisor pid ${state.supervisorPid}` : 'supervisor NOT running'
  console.log(`profile ${state.profile}, gateway ${state.gatewayUrl}, ${supervisor}`)
  const table = [['NAME', 'ROLE', 'HOST', 'PID', 'ADDRESS', 'ALIVE', 'RESTARTS', 'METRICS']]
  for (const row of rows) {
    table.push([row.name, row.role, row.host, String(row.pid ?? '-'), row.port === null ? '-' : `${row.address}:${row.port}`, row.alive ? 'yes' : 'no', String(row.restarts), row.metrics ?? '-'])
  }
  const widths = table[0].map((_, column) => Math.max(...table.map((cells) => cells[column].length)))
  for (const cells of table) console.log(cells.map((cell, column) => cell.padEnd(widths[column])).join('  '))
}

/** Accepts KILL, SIGKILL or sigkill alike. */
function signalNamed(text: string): NodeJS.Signals {
  const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`
  if (!(name in constants.signals)) fail(`unknown signal ${text}`)
  return name as NodeJS.Signals
}

/** Signals a process as `kill -SIGNAL PID` does, or with --group its whole process group (its nginx workers too). */
function signalProcess(state: ClusterState, name: string | undefined, signal: NodeJS.Signals): void {
  const entry = state.processes.find((candidate) => candidate.name === name)
  if (!entry) fail(`no process named ${name}; known: ${state.processes.map((candidate) => candidate.name).join(', ')}`)
  // The supervisor started it as the leader of its own group; a pid since reused by another program is not.
  const { pid } = entry
  if (pid === null || processGroupOf(pid) !== pid || !sendSignal(pid, signal, flags.group ? 'group' : 'process')) fail(`${name} is not running`)
  console.log(`${signal} sent to ${name} (${flags.group ? 'process group' : 'pid'} ${pid})`)
}

async function listDeadLetters(state: ClusterState): Promise<void> {
  const letters = await readDeadLetters(state.kafkaBrokers, readCredentials(state.runDir)?.kafka.admin)
  if (flags.json) return console.log(JSON.stringify(letters, null, 2))
  if (letters.length === 0) return console.log('no dead letters')
  for (const letter of letters) console.log(formatDeadLetter(letter))
}

/** The network faults act on the hosts profile's namespaces, named in the cluster's state. */
function hostNetwork(state: ClusterState): HostNetwork {
  if (!state.network) fail(`profile ${state.profile} has no hosts of its own; network faults need --profile hosts`)
  return state.network
}

/** Runs a change of the network; a failure (an unknown host, a namespace gone) ends the command with its reason. */
function orFail(command: string, change: () => void): void {
  try {
    change()
  } catch (error) {
    fail(`${command}: ${(error as Error).message}`)
  }
}

const hostList = (text: string | undefined) => (text ?? '').split(',').map((name) => name.trim()).filter(Boolean)

function partition(state: ClusterState, side: string | undefined): void {
  const network = hostNetwork(state)
  if (!side) fail('partition: name the hosts of one side, e.g. `partition host-1`')
  const from = flags.from === undefined ? undefined : hostList(flags.from)
  orFail('partition', () => cut(network, { side: hostList(side), from, oneway: flags.oneway }))
  const other = from ? from.join(',') : 'every other host and the gateway'
  console.log(`cut ${hostList(side).join(',')} ${flags.oneway ? '->' : '<->'} ${other}`)
}

function netem(state: ClusterState, host: string | undefined): void {
  const network = hostNetwork(state)
  if (!host) fail('netem: usage `netem HOST [--delay 200ms [--jitter 50ms] | --rate 1mbit] [--loss 5%]`')
  const quality = { delay: flags.delay, jitter: flags.jitter, rate: flags.rate, loss: flags.loss }
  orFail('netem', () => degradeLink(network, host, quality))
  const parts = [flags.delay && `delay ${flags.delay}${flags.jitter ? ` ± ${flags.jitter}` : ''}`, flags.rate && `rate ${flags.rate}`, flags.loss && `loss ${flags.loss}`]
  console.log(`${host}: ${parts.filter(Boolean).join(', ')}, both ways`)
}

async function down(state: ClusterState): Promise<void> {
  if (supervisorRunning(state)) {
    process.kill(state.supervisorPid, 'SIGTERM')
    for (let waited = 0; isAlive(state.supervisorPid); waited += 200) {
      if (waited > 120_000) fail(`supervisor ${state.supervisorPid} is still running after 2 minutes`)
      await sleep(200)
    }
    console.log('cluster stopped')
    return
  }
  // No supervisor left to stop them in order: end what it left behind.
  const ended = await endLeftovers(state)
  console.log(`supervisor was gone; stopped the ${ended} process groups it left`)
}

async function main(): Promise<void> {
  if (flags.help || !command) {
    console.log(USAGE)
    return
  }
  if (command === 'up') return up()
  if (command === 'export') return exportDeployment(args[0])
  const state = readState(chosenRunDir())
  switch (command) {
    case 'ps':
      return ps(state)
    case 'kill':
      return signalProcess(state, args[0], signalNamed(args[1] ?? 'SIGKILL'))
    case 'pause':
      return signalProcess(state, args[0], 'SIGSTOP')
    case 'resume':
      return signalProcess(state, args[0], 'SIGCONT')
    case 'down':
      return down(state)
    case 'partition':
      return partition(state, args[0])
    case 'netem':
      return netem(state, args[0])
    case 'heal':
      orFail('heal', () => heal(hostNetwork(state)))
      return console.log('every link healed')
    case 'dlq':
      return listDeadLetters(state)
    default:
      fail(`unknown command ${command}\n${USAGE}`)
  }
}

await main()
