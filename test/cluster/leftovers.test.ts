// The launcher leaves nothing behind. When `up`'s supervisor dies without stopping its cluster (kill -9,
// or what `timeout`, systemd and `docker stop` do: SIGTERM, then SIGKILL to its whole process group after
// a short grace), the reaper ends every process of the cluster, nginx workers included; and should the
// reaper be gone too, the next `up` ends them before starting on the same ports.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { after, describe, test } from 'node:test'
import { repoRoot } from '../../tools/cluster/paths.js'
import { allPids, commandOf, groupMembers } from '../../tools/cluster/proc.js'
import { waitUntil } from '../../tools/cluster/probes.js'
import { readState } from '../../tools/cluster/state.js'

const cliPath = fileURLToPath(new URL('../../tools/cluster/main.js', import.meta.url))
const currentLink = join(repoRoot, 'run', 'current')

/** `up` in a process group of its own, as a terminal or a service manager runs it; resolves once ready. */
async function up(runDir: string, basePort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cliPath, 'up', '--profile', 'default', '--run-dir', runDir, '--base-port', String(basePort)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  await waitUntil('the cluster to be ready', async () => output.includes('ready: gateway'), 90_000).catch((err: Error) => {
    // What the launcher said is all there is to go by: the run folder goes with the test.
    throw new Error(`${err.message}; the launcher's last output:\n${output.slice(-4000)}`)
  })
  return child
}

/** Every process group the cluster's state names: each service, Redis, Kafka and the nginx master with its workers. */
function clusterGroups(runDir: string): number[] {
  return readState(runDir).processes.flatMap(({ pid }) => (pid === null ? [] : [pid]))
}

const running = (groups: number[]) => groups.filter((pgid) => groupMembers(pgid).length > 0)

function reaperOf(runDir: string): number | undefined {
  return allPids().find((pid) => commandOf(pid).includes('reaper.js') && commandOf(pid).includes(runDir))
}

describe('nothing left behind', { timeout: 300_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'cluster-leftovers-'))
  // Free-looking ports laid out from a base (gateway, services, Redis, Kafka: base + 0..800).
  const basePort = 20_000 + 1000 * Math.floor(Math.random() * 20)
  const previousCurrent = existsSync(currentLink) ? readlinkSync(currentLink) : undefined
  let last: ChildProcess | undefined

  after(async () => {
    if (last?.pid && groupMembers(last.pid).length > 0) process.kill(last.pid, 'SIGTERM')
    await waitUntil('the last cluster to stop', async () => !last?.pid || groupMembers(last.pid).length === 0, 60_000).catch(() => undefined)
    for (const pgid of running(existsSync(join(runDir, 'cluster.json')) ? clusterGroups(runDir) : [])) process.kill(-pgid, 'SIGKILL')
    rmSync(runDir, { recursive: true, force: true })
    // `up` points run/current at its run folder: give the developer's back.
    rmSync(currentLink, { force: true })
    if (previousCurrent) symlinkSync(previousCurrent, currentLink)
  })

  test('the supervisor killed with SIGKILL: its reaper ends every process of the cluster', async () => {
    last = await up(runDir, basePort)
    const groups = clusterGroups(runDir)
    assert.equal(running(groups).length, groups.length, 'every process runs')
    process.kill(last.pid!, 'SIGKILL')
    await waitUntil('every process of the cluster to end', async () => running(groups).length === 0, 30_000)
  })

  test('SIGTERM and then SIGKILL to the supervisor group before it could stop: every process ends', async () => {
    last = await up(runDir, basePort)
    const groups = clusterGroups(runDir)
    process.kill(-last.pid!, 'SIGTERM')
    // The grace is shorter than an orderly stop takes (Kafka alone needs seconds), as with `timeout -k`.
    await sleep(200)
    process.kill(-last.pid!, 'SIGKILL')
    await waitUntil('every process of the cluster to end', async () => running(groups).length === 0, 30_000)
  })

  test('supervisor and reaper both killed: the next `up` ends what they left and starts on the same ports', async () => {
    last = await up(runDir, basePort)
    const groups = clusterGroups(runDir)
    const reaper = reaperOf(runDir)
    assert.ok(reaper, 'a reaper runs beside the supervisor')
    process.kill(reaper, 'SIGKILL')
    process.kill(last.pid!, 'SIGKILL')
    await sleep(1000)
    assert.equal(running(groups).length, groups.length, 'with no reaper, the processes are still there')
    last = await up(runDir, basePort)
    assert.deepEqual(running(groups), [], 'the leftovers were ended')
    assert.equal(running(clusterGroups(runDir)).length, groups.length, 'a whole new cluster runs')
  })
})
