// Spawns the cluster's processes, restarts the ones that die (like a container restart policy),
// and stops them in order. Each process runs in its own process group, which plays the container:
// a stop reaches all of it (nginx workers, Redis' forked children), and the terminal's Ctrl-C reaches
// only the supervisor, which then stops everything in order. Faults (kill, pause) signal the process
// itself, as `kill -9 PID` does, unless the whole group is asked for.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, statSync } from 'node:fs'
import { setPriority } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { onHost, type Placement } from './network.js'
import { repoRoot } from './paths.js'
import { waitUntil } from './probes.js'
import type { Role } from './roles.js'

export interface Launch {
  command: string
  args: string[]
  env?: Record<string, string>
}

export interface Incarnation {
  logPath: string
  /** Where this incarnation's output starts in the log file. */
  logOffset: number
}

export interface ProcessSpec {
  name: string
  role: Role
  /** Where it runs: its host's network namespace and address. */
  host: Placement
  port: number | null
  /** The command line of each start; `restart` lets a Sentinel-managed Redis rejoin as a replica. */
  launch(restart: boolean): Promise<Launch>
  /** One readiness probe of the running incarnation. */
  isReady(incarnation: Incarnation): Promise<boolean>
  readyTimeoutMs: number
  /** How long SIGTERM may take before SIGKILL. */
  stopTimeoutMs: number
  /** Scheduling priority (negative = favoured): for processes whose timers must not starve under load. */
  niceness?: number
  /** What becomes of the processes a dead one leaves in its group; by default they are killed. */
  leftovers?: Leftovers
}

/** Takes over the rest of a process group whose leader died (e.g. nginx workers of a killed master). */
export interface Leftovers {
  adopt(pgid: number, log: (line: string) => void): void
  /** The groups it still looks after, for a last-resort kill. */
  groups(): number[]
  /** Ends them all, for a cluster stop. */
  stop(): Promise<void>
}

export type SignalScope = 'process' | 'group'

export interface ProcessStatus {
  name: string
  role: Role
  host: string
  address: string
  pid: number | null
  port: number | null
  alive: boolean
  restarts: number
  log: string
}

const FIRST_RESTART_DELAY_MS = 1000
const MAX_RESTART_DELAY_MS = 10_000
/** A process that dies sooner than this after starting is crash-looping: back off. */
const STABLE_AFTER_MS = 5000

/** Signals a process, or the process group it leads; false when it is already gone. */
export function sendSignal(pid: number, signal: NodeJS.Signals, scope: SignalScope): boolean {
  try {
    process.kill(scope === 'group' ? -pid : pid, signal)
    return true
  } catch {
    return false
  }
}

class SupervisedProcess {
  restarts = 0
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private incarnation: Incarnation
  private startedAt = 0
  private restartDelayMs = FIRST_RESTART_DELAY_MS
  private restartTimer: NodeJS.Timeout | undefined
  private stopping = false

  constructor(
    readonly spec: ProcessSpec,
    logDir: string,
    private readonly stopped: AbortSignal,
    private readonly onChange: () => void,
    private readonly log: (line: string) => void,
  ) {
    this.incarnation = { logPath: join(logDir, `${spec.name}.log`), logOffset: 0 }
  }

  get pid(): number | null {
    return this.child?.pid ?? null
  }

  get alive(): boolean {
    return this.child?.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  status(): ProcessStatus {
    const { name, role, port, host } = this.spec
    return { name, role, host: host.name, address: host.address, pid: this.pid, port, alive: this.alive, restarts: this.restarts, log: this.incarnation.logPath }
  }

  async start(restart = false): Promise<void> {
    const launch = await this.spec.launch(restart)
    if (this.stopping) return
    const { command, args } = onHost(this.spec.host.netns, launch.command, launch.args)
    const { logPath } = this.incarnation
    this.incarnation = { logPath, logOffset: existsSync(logPath) ? statSync(logPath).size : 0 }
    const logFd = openSync(logPath, 'a')
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: { ...process.env, ...launch.env },
      stdio: ['ignore', logFd, logFd],
      detached: true,
    })
    closeSync(logFd)
    this.child = child
    this.startedAt = Date.now()
    this.exited = new Promise((resolve) => {
      let ended = false
      const end = (reason: number | string | null) => {
        if (ended) return // a failed spawn may report both 'error' and 'exit'
        ended = true
        this.onExit(child, reason)
        resolve()
      }
      child.once('exit', (code, signal) => end(code ?? signal))
      child.once('error', (error) => {
        this.log(`${this.spec.name}: ${error.message}`)
        if (child.pid === undefined) end('spawn failed')
      })
    })
    if (this.spec.niceness !== undefined && child.pid !== undefined) {
      try {
        setPriority(child.pid, this.spec.niceness)
      } catch {
        // Only root may raise a priority; the process then runs at the normal one.
      }
    }
    this.onChange()
  }

  waitReady(): Promise<void> {
    const probe = async () => this.alive && (await this.spec.isReady(this.incarnation))
    return waitUntil(`${this.spec.name} (log: ${this.incarnation.logPath})`, probe, this.spec.readyTimeoutMs, 200, this.stopped)
  }

  /** Signals the process itself, as `kill -SIGNAL PID` would, or its whole group (what `docker kill` does). */
  signal(signal: NodeJS.Signals, scope: SignalScope): void {
    if (this.child?.pid === undefined || !this.alive) throw new Error(`${this.spec.name} is not running`)
    sendSignal(this.child.pid, signal, scope)
  }

  async stop(): Promise<void> {
    this.stopping = true
    clearTimeout(this.restartTimer)
    await this.stopMainGroup()
    await this.spec.leftovers?.stop()
  }

  private async stopMainGroup(): Promise<void> {
    const pid = this.child?.pid
    if (pid === undefined || !this.alive) return
    sendSignal(pid, 'SIGTERM', 'group')
    sendSignal(pid, 'SIGCONT', 'group') // a paused process must run to handle SIGTERM
    const gaveUp = new AbortController()
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(this.spec.stopTimeoutMs, true, { signal: gaveUp.signal })])
    gaveUp.abort() // the losing timer must not keep the process alive
    if (timedOut) {
      this.log(`${this.spec.name} ignored SIGTERM for ${this.spec.stopTimeoutMs} ms: SIGKILL`)
      sendSignal(pid, 'SIGKILL', 'group')
      await this.exited
    }
  }

  private onExit(child: ChildProcess, reason: number | string | null): void {
    if (child.pid !== undefined) {
      if (this.spec.leftovers && !this.stopping) this.spec.leftovers.adopt(child.pid, this.log)
      else sendSignal(child.pid, 'SIGKILL', 'group') // e.g. Redis' forked child of a killed server
    }
    this.onChange()
    if (this.stopping) return
    const livedMs = Date.now() - this.startedAt
    this.restartDelayMs = livedMs < STABLE_AFTER_MS ? Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS) : FIRST_RESTART_DELAY_MS
    this.log(`${this.spec.name} exited (${reason}); restarting in ${this.restartDelayMs} ms`)
    this.scheduleRestart()
  }

  private scheduleRestart(): void {
    this.restartTimer = setTimeout(() => {
      this.restarts++
      this.start(true).catch((error: Error) => {
        this.log(`${this.spec.name} failed to restart: ${error.message}`)
        this.scheduleRestart()
      })
    }, this.restartDelayMs)
  }
}

export class Supervisor {
  private readonly processes = new Map<string, SupervisedProcess>()
  private readonly stopController = new AbortController()

  constructor(
    private readonly logDir: string,
    private readonly onChange: () => void,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Starts every process once the roles it waits for are ready, and resolves when all are ready.
   * Processes of one role start together (a Kafka quorum needs its voters up at the same time).
   */
  async startAll(specs: ProcessSpec[], waitsFor: (role: Role) => Role[]): Promise<void> {
    for (const spec of specs) {
      this.processes.set(spec.name, new SupervisedProcess(spec, this.logDir, this.stopController.signal, this.onChange, this.log))
    }
    const roles = new Set(specs.map((spec) => spec.role))
    const readiness = new Map<Role, Promise<void>>()
    const roleReady = (role: Role): Promise<void> => {
      let ready = readiness.get(role)
      if (!ready) {
        ready = (async () => {
          await Promise.all(waitsFor(role).filter((dependency) => roles.has(dependency)).map(roleReady))
          const members = [...this.processes.values()].filter((process) => process.spec.role === role)
          await Promise.all(members.map((process) => process.start()))
          await Promise.all(members.map((process) => process.waitReady()))
          this.log(`${role}: ready (${members.map((process) => process.spec.name).join(', ')})`)
        })()
        readiness.set(role, ready)
      }
      return ready
    }
    await Promise.all([...roles].map(roleReady))
  }

  /** Stops the processes role group by role group, in the given order; roles not listed go last. */
  async stopAll(order: Role[][]): Promise<void> {
    this.stopController.abort()
    const listed = new Set(order.flat())
    const unlisted = [...new Set([...this.processes.values()].map((process) => process.spec.role))].filter((role) => !listed.has(role))
    for (const roles of [...order, unlisted]) {
      const group = [...this.processes.values()].filter((process) => roles.includes(process.spec.role))
      await Promise.all(group.map((process) => process.stop()))
    }
  }

  statuses(): ProcessStatus[] {
    return [...this.processes.values()].map((process) => process.status())
  }

  signal(name: string, signal: NodeJS.Signals, scope: SignalScope = 'process'): void {
    this.get(name).signal(signal, scope)
  }

  /** Every process group still running, leftovers included: for a last-resort kill. */
  groups(): number[] {
    return [...this.processes.values()].flatMap(({ pid, alive, spec }) => [...(pid !== null && alive ? [pid] : []), ...(spec.leftovers?.groups() ?? [])])
  }

  waitReady(name: string): Promise<void> {
    return this.get(name).waitReady()
  }

  private get(name: string): SupervisedProcess {
    const found = this.processes.get(name)
    if (!found) throw new Error(`no process named ${name}; known: ${[...this.processes.keys()].join(', ')}`)
    return found
  }
}
