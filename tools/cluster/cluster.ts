// The launcher's programmatic API: start a profile, reach its processes, inject faults, stop it.
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Credentials } from './credentials.js'
import { createHostNetwork, cut, degradeLink, heal, removeHostNetwork, type Cut, type HostNetwork, type LinkQuality } from './network.js'
import { repoRoot } from './paths.js'
import { assertPortsFree, portAllocator, portOverrides, type PortMode } from './ports.js'
import { sendSignal, Supervisor, type ProcessStatus, type SignalScope } from './processes.js'
import type { ServiceRole } from './roles.js'
import { writeState } from './state.js'
import { buildTopology, STOP_ORDER, WAITS_FOR, type DataGroup, type ProfileName, type RedisEndpoint, type Topology } from './topology.js'

export type { ProcessStatus, SignalScope } from './processes.js'
export type { ServiceRole } from './roles.js'
export type { Cut, HostNetwork, LinkQuality } from './network.js'
export type { DataGroup, ProfileName, RedisEndpoint } from './topology.js'

export interface ClusterOptions {
  profile: ProfileName
  /** Default: run/<profile>-<timestamp> in the repository. */
  runDir?: string
  /** 'default': the conventional ports (gateway 8000, ...); 'free': any free ports (tests). */
  ports?: 'default' | 'free'
  /** Lays every port out from this one instead (a second cluster beside the first); wins over `ports`. */
  basePort?: number
  /** false: only Kafka, Redis and Sentinels, no services and no gateway. Default true. */
  services?: boolean
  /** Also run Prometheus, scraping every process (and the exporters it needs for Redis and nginx). */
  observe?: boolean
  log?: (line: string) => void
}

export interface Cluster {
  readonly profile: ProfileName
  /** The gateway's address (nothing listens there when started without services). */
  readonly gatewayUrl: string
  /** Prometheus's address, when started with `observe`. */
  readonly prometheusUrl?: string
  readonly runDir: string
  readonly kafkaBrokers: string[]
  readonly redis: Record<DataGroup, RedisEndpoint>
  /** The hosts profile's network namespaces and addresses. */
  readonly network?: HostNetwork
  /** Logins to Redis, Sentinel and Kafka, when they require them (the hosts profile). */
  readonly credentials?: Credentials
  /** A snapshot of every process: name, role, pid, port, alive, restarts, log. */
  readonly processes: ProcessStatus[]
  /** The environment a service process gets, to run one in-process against this cluster's infrastructure. */
  serviceEnv(role: ServiceRole, instance: number): Record<string, string>
  /**
   * Signals a process (default SIGKILL), or with scope 'group' its whole process group (an nginx
   * master's workers too); the supervisor restarts it after a second.
   */
  kill(name: string, signal?: NodeJS.Signals, scope?: SignalScope): void
  pause(name: string): void
  resume(name: string): void
  waitReady(name: string): Promise<void>
  /** Hosts profile: cuts links between hosts (and the gateway), as `cluster partition` does. */
  partition(cut: Cut): void
  /** Hosts profile: a host's link made slow and lossy, as `cluster netem` does. */
  degradeLink(host: string, quality: LinkQuality): void
  /** Hosts profile: every cut and slow link undone. */
  heal(): void
  /** Stops every process in order and waits for them. */
  stop(): Promise<void>
}

export function defaultRunDir(profile: ProfileName): string {
  const timestamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 23)
  return join(repoRoot, 'run', `${profile}-${timestamp}`)
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const log = options.log ?? (() => {})
  const runDir = resolve(options.runDir ?? defaultRunDir(options.profile))
  mkdirSync(join(runDir, 'logs'), { recursive: true })
  const portMode: PortMode =
    options.basePort !== undefined ? { kind: 'base', basePort: options.basePort } : options.ports === 'free' ? { kind: 'free' } : { kind: 'conventional' }
  const topology = await buildTopology(options.profile, runDir, portAllocator(portMode, portOverrides()), {
    withServices: options.services ?? true,
    observe: options.observe ?? false,
  })
  if (portMode.kind !== 'free') {
    await assertPortsFree(topology.processes.flatMap(({ name, port }) => (port === null ? [] : [{ name, port }])))
  }

  const cluster = new RunningCluster(topology, runDir, log)
  try {
    await cluster.start()
  } catch (error) {
    await cluster.stop()
    throw error
  }
  return cluster
}

class RunningCluster implements Cluster {
  readonly profile: ProfileName
  readonly gatewayUrl: string
  readonly prometheusUrl?: string
  readonly kafkaBrokers: string[]
  readonly redis: Record<DataGroup, RedisEndpoint>
  readonly network?: HostNetwork
  readonly credentials?: Credentials
  private readonly supervisor: Supervisor
  /** Best effort: children must not outlive a test process that exits without stopping them. */
  private readonly killChildrenOnExit = () => {
    for (const pgid of this.supervisor.groups()) sendSignal(pgid, 'SIGKILL', 'group')
  }

  constructor(
    private readonly topology: Topology,
    readonly runDir: string,
    log: (line: string) => void,
  ) {
    this.profile = topology.profile
    this.gatewayUrl = topology.gatewayUrl
    this.prometheusUrl = topology.prometheusUrl
    this.kafkaBrokers = topology.kafkaBrokers
    this.redis = topology.redis
    this.network = topology.network
    this.credentials = topology.credentials
    this.supervisor = new Supervisor(join(runDir, 'logs'), () => this.saveState(), log)
  }

  get processes(): ProcessStatus[] {
    return this.supervisor.statuses()
  }

  async start(): Promise<void> {
    process.on('exit', this.killChildrenOnExit)
    if (this.topology.network) {
      createHostNetwork(this.topology.network)
      this.saveState() // the reaper must know the network before anything runs in it
    }
    // The reaper ends the children should this process die without stopping them (tools/cluster/reaper.ts).
    spawn(process.execPath, [new URL('./reaper.js', import.meta.url).pathname, String(process.pid), this.runDir], { detached: true, stdio: 'ignore' }).unref()
    await this.supervisor.startAll(this.topology.processes, (role) => WAITS_FOR[role])
  }

  serviceEnv(role: ServiceRole, instance: number): Record<string, string> {
    return this.topology.serviceEnv(role, instance)
  }

  kill(name: string, signal: NodeJS.Signals = 'SIGKILL', scope: SignalScope = 'process'): void {
    this.supervisor.signal(name, signal, scope)
  }

  pause(name: string): void {
    this.supervisor.signal(name, 'SIGSTOP')
  }

  resume(name: string): void {
    this.supervisor.signal(name, 'SIGCONT')
  }

  waitReady(name: string): Promise<void> {
    return this.supervisor.waitReady(name)
  }

  partition(spec: Cut): void {
    cut(this.hostNetwork(), spec)
  }

  degradeLink(host: string, quality: LinkQuality): void {
    degradeLink(this.hostNetwork(), host, quality)
  }

  heal(): void {
    heal(this.hostNetwork())
  }

  private hostNetwork(): HostNetwork {
    if (!this.network) throw new Error(`profile ${this.profile} has no hosts of its own`)
    return this.network
  }

  async stop(): Promise<void> {
    await this.supervisor.stopAll(STOP_ORDER)
    if (this.topology.network) removeHostNetwork(this.topology.network)
    process.off('exit', this.killChildrenOnExit)
  }

  private saveState(): void {
    writeState({
      profile: this.profile,
      runDir: this.runDir,
      gatewayUrl: this.gatewayUrl,
      supervisorPid: process.pid,
      kafkaBrokers: this.kafkaBrokers,
      redis: this.redis,
      network: this.topology.network,
      processes: this.supervisor.statuses(),
      updatedAt: new Date().toISOString(),
    })
  }
}
