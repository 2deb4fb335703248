// What a supervisor that died without stopping its cluster (SIGKILL, a service manager's group kill
// after a short grace) leaves behind, and how it is ended: by the reaper that outlives the supervisor,
// by `cluster down`, and by the next `up` on the same run/current.
import { setTimeout as sleep } from 'node:timers/promises'
import { gatewayWorkerGroups } from './draining-workers.js'
import { removeHostNetwork } from './network.js'
import { groupMembers, processGroupOf } from './proc.js'
import { sendSignal } from './processes.js'
import type { ClusterState } from './state.js'

/** Time for Kafka and Redis to shut down cleanly on SIGTERM before they are killed. */
const GRACE_MS = 10_000

/**
 * The process groups of the state's processes that still run. Each child led its own group, so a pid
 * since reused by an unrelated program (which does not lead a group of that number) is left alone.
 */
export function leftoverGroups(state: ClusterState): number[] {
  const groups = state.processes.flatMap(({ pid }) => (pid !== null && processGroupOf(pid) === pid ? [pid] : []))
  // A killed gateway master's workers still draining are in a group the state no longer names.
  return [...new Set([...groups, ...gatewayWorkerGroups(Number(new URL(state.gatewayUrl).port))])]
}

/** SIGTERM to every leftover group, SIGKILL to those still there after the grace; returns how many there were. */
export async function endLeftovers(state: ClusterState): Promise<number> {
  const groups = leftoverGroups(state)
  for (const pgid of groups) {
    sendSignal(pgid, 'SIGCONT', 'group') // a paused process must run to handle SIGTERM
    sendSignal(pgid, 'SIGTERM', 'group')
  }
  const deadline = Date.now() + GRACE_MS
  let remaining = groups
  while (remaining.length > 0 && Date.now() < deadline) {
    await sleep(200)
    remaining = remaining.filter((pgid) => groupMembers(pgid).length > 0)
  }
  for (const pgid of remaining) sendSignal(pgid, 'SIGKILL', 'group')
  if (state.network) removeHostNetwork(state.network)
  return groups.length
}
