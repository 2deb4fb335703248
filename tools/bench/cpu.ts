// The CPU probe (--cpu): where the cluster's CPU goes per checkout. It reads utime + stime of every
// process group the launcher supervises (an nginx master with its workers, a JVM with its threads)
// from /proc when the measurement window opens and when it closes, and divides by the checkouts
// answered in between. On a CPU-bound machine this is the measure that explains throughput.
import { groupCpuMs } from '../cluster/proc.js'
import type { ProcessStatus } from '../cluster/processes.js'

export interface ProcessCpu {
  name: string
  role: string
  cpuMs: number
  msPerCheckout: number
  /** The process was restarted during the window: only its new incarnation's time is counted. */
  restarted?: boolean
}

export interface CpuReport {
  windowSeconds: number
  /** HTTP answers (any status) that finished inside the window. */
  checkouts: number
  /** Cluster CPU per checkout, every supervised process summed (the load generator excluded). */
  msPerCheckout: number
  /** Average cores the cluster kept busy. */
  clusterCores: number
  byRole: Record<string, { cpuMs: number; msPerCheckout: number; processes: number }>
  byProcess: ProcessCpu[]
  /** This bench process: it shares the machine when it runs on the same cores. */
  loadGenerator: { cpuMs: number; msPerCheckout: number }
}

interface Snapshot {
  atMs: number
  groups: Map<string, { pid: number; cpuMs: number }>
  self: number
}

/** Samples the cluster's CPU at the window's edges; `processes` gives the current process table. */
export class CpuProbe {
  #start: Snapshot | undefined

  constructor(private readonly processes: () => ProcessStatus[]) {}

  start(): void {
    this.#start = this.#snapshot()
  }

  get started(): boolean {
    return this.#start !== undefined
  }

  stop(checkouts: number): CpuReport {
    const start = this.#start
    if (!start) throw new Error('CPU probe stopped before it started')
    const end = this.#snapshot()
    const perCheckout = (ms: number) => (checkouts > 0 ? ms / checkouts : 0)
    const roles = new Map(this.processes().map((p) => [p.name, p.role as string]))
    const byProcess: ProcessCpu[] = []
    for (const [name, now] of end.groups) {
      const before = start.groups.get(name)
      const restarted = before === undefined || before.pid !== now.pid
      const cpuMs = restarted ? now.cpuMs : now.cpuMs - before.cpuMs
      byProcess.push({ name, role: roles.get(name) ?? 'unknown', cpuMs, msPerCheckout: perCheckout(cpuMs), ...(restarted ? { restarted } : {}) })
    }
    const byRole: CpuReport['byRole'] = {}
    for (const p of byProcess) {
      const role = (byRole[p.role] ??= { cpuMs: 0, msPerCheckout: 0, processes: 0 })
      role.cpuMs += p.cpuMs
      role.msPerCheckout = perCheckout(role.cpuMs)
      role.processes++
    }
    const totalMs = byProcess.reduce((sum, p) => sum + p.cpuMs, 0)
    const windowSeconds = (end.atMs - start.atMs) / 1000
    const self = end.self - start.self
    return {
      windowSeconds,
      checkouts,
      msPerCheckout: perCheckout(totalMs),
      clusterCores: windowSeconds > 0 ? totalMs / 1000 / windowSeconds : 0,
      byRole,
      byProcess: byProcess.sort((a, b) => b.cpuMs - a.cpuMs),
      loadGenerator: { cpuMs: self, msPerCheckout: perCheckout(self) },
    }
  }

  #snapshot(): Snapshot {
    // Every supervised process leads its own process group, so its pid is the group's id.
    const live = this.processes().filter((p): p is ProcessStatus & { pid: number } => p.alive && p.pid !== null)
    const cpu = groupCpuMs(live.map((p) => p.pid))
    const usage = process.cpuUsage()
    return {
      atMs: performance.now(),
      groups: new Map(live.map((p) => [p.name, { pid: p.pid, cpuMs: cpu.get(p.pid) ?? 0 }])),
      self: (usage.user + usage.system) / 1000,
    }
  }
}

/** The report as a few lines: the total, then each role's share. */
export function formatCpu(report: CpuReport): string[] {
  const ms = (value: number) => value.toFixed(3)
  const roles = Object.entries(report.byRole)
    .sort(([, a], [, b]) => b.cpuMs - a.cpuMs)
    .map(([role, r]) => `${role} ${ms(r.msPerCheckout)}${r.processes > 1 ? ` (x${r.processes})` : ''}`)
  return [
    `  cpu per checkout   ${ms(report.msPerCheckout)} ms for the cluster (${report.clusterCores.toFixed(2)} cores busy over ${report.windowSeconds.toFixed(1)} s, ${report.checkouts} answers); load generator ${ms(report.loadGenerator.msPerCheckout)} ms`,
    `    by role          ${roles.join(', ')}`,
  ]
}
