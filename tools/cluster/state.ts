// <run folder>/cluster.json: what the supervisor runs, for `ps`, `kill` and other tools to read.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HostNetwork } from './network.js'
import type { ProcessStatus } from './processes.js'
import type { DataGroup, ProfileName, RedisEndpoint } from './topology.js'

export interface ClusterState {
  profile: ProfileName
  runDir: string
  gatewayUrl: string
  supervisorPid: number
  kafkaBrokers: string[]
  redis: Record<DataGroup, RedisEndpoint>
  /** The hosts profile's network namespaces and addresses. */
  network?: HostNetwork
  processes: ProcessStatus[]
  updatedAt: string
}

export const stateFile = (runDir: string) => join(runDir, 'cluster.json')

/** Replaces the file in one step, so a reader never sees half of it. */
export function writeState(state: ClusterState): void {
  const path = stateFile(state.runDir)
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2) + '\n')
  renameSync(`${path}.tmp`, path)
}

export function readState(runDir: string): ClusterState {
  return JSON.parse(readFileSync(stateFile(runDir), 'utf8')) as ClusterState
}

/** Whether a process is still there (a paused one counts). */
export function isAlive(pid: number | null): boolean {
  if (pid === null) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether the state's supervisor still runs; a stale file's pid may since belong to another program. */
export function supervisorRunning(state: ClusterState): boolean {
  const cmdline = `/proc/${state.supervisorPid}/cmdline`
  return isAlive(state.supervisorPid) && existsSync(cmdline) && readFileSync(cmdline, 'utf8').includes('node')
}
