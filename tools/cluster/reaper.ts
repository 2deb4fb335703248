// The reaper: a small process each cluster starts beside its supervisor, in a session of its own, so
// that it outlives the supervisor however that ends (SIGKILL, `kill -9`, a service manager's SIGTERM
// and then SIGKILL to the supervisor's process group). Once the supervisor is gone it ends every process
// the cluster's state names that still runs, then exits. After a clean stop it finds nothing to end.
// Usage: node reaper.js <supervisor pid> <run folder>
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { endLeftovers } from './leftovers.js'
import { isAlive, readState, stateFile } from './state.js'

const POLL_MS = 250

const [supervisorText, runDir] = process.argv.slice(2)
const supervisorPid = Number(supervisorText)
if (!Number.isInteger(supervisorPid) || !runDir) {
  process.stderr.write('usage: node reaper.js <supervisor pid> <run folder>\n')
  process.exit(2)
}
while (isAlive(supervisorPid)) await sleep(POLL_MS)
if (existsSync(stateFile(runDir))) await endLeftovers(readState(runDir))
