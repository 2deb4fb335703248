// Moves a Redis group's master to one of its replicas while it is alive (Sentinel only fails over a
// master that stopped answering), without losing a write it acknowledged. Used to move a master off a
// host whose link went slow (slow-master.ts).
//
// Sentinel's forced failover (SENTINEL FAILOVER) alone is not safe on a live master: it keeps taking
// writes while a replica is promoted and the other re-pointed, and a write acknowledged then by the
// re-pointed replica is gone once it resyncs from the promoted one; nor does Sentinel pick its replica
// by current offsets (its view is up to 10 s old). So the writes stop first (CLIENT PAUSE WRITE), every
// replica Sentinel might promote catches up to the master's last offset, and only then Sentinel fails
// over. Writes resume once the old master is a replica. Each step is bounded; a step that fails before
// the failover is asked for undoes the pause, and one after (its answer lost too) leaves it to expire
// on its own (PAUSE_MS) unless Sentinel shows no failover under way, rather than let the old master
// take writes while one may still go on.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { infoFields, sentinelFields } from './redis.js'

export interface GroupNodes {
  /** The master's address as Sentinel names it (host:port), and a connection to it. */
  master: { address: string; redis: Redis }
  /** A connection to each replica Sentinel counts as up, by address. */
  replicas: Map<string, Redis>
}

/** Writes stay paused at most this long, whatever happens to the process that paused them. */
const PAUSE_MS = 20_000
/**
 * How long the replicas get to catch up with the paused master: less than Sentinel's down-after (3 s).
 * While writes are paused Sentinel's own hello messages (PUBLISH) wait on the master too, and its PINGs
 * behind them: a longer wait had Sentinel fail the master over itself, and the writes waited 11 s.
 */
const CATCH_UP_MS = 2000
/** How long Sentinel gets to promote a replica (its failover-timeout is 10 s). */
const SWITCH_MS = 12_000
/** No second hand-over of the group before this (the lock stays, and is copied to the new master). */
export const HANDOVER_LOCK_MS = 60_000
const POLL_MS = 100

const HANDOVER_LOCK_KEY = 'redis-master-handover'

/** The master Sentinel names for a group, as host:port. */
export async function masterAddress(sentinel: Redis, group: string): Promise<string> {
  const [host, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', group)) as [string, string]
  return `${host}:${port}`
}

/** The replicas Sentinel might promote (not down, connected), as host:port. */
export async function promotableReplicas(sentinel: Redis, group: string): Promise<string[]> {
  const replicas = ((await sentinel.call('SENTINEL', 'REPLICAS', group)) as unknown[]).map(sentinelFields)
  return replicas
    .filter((fields) => !/s_down|o_down|disconnected/.test(fields.flags ?? ''))
    .map((fields) => `${fields.ip}:${fields.port}`)
}

async function until(deadlineMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    if (await check().catch(() => false)) return true
    if (Date.now() >= deadline) return false
    await sleep(POLL_MS)
  }
}

/** Whether the replica reaches the master's `offset` within CATCH_UP_MS. */
async function catchUp(replica: Redis, masterAddress: string, offset: number): Promise<boolean> {
  const [masterHost, masterPort] = masterAddress.split(':')
  return until(CATCH_UP_MS, async () => {
    const fields = await infoFields(replica, 'replication')
    const following = fields.get('master_host') === masterHost && fields.get('master_port') === masterPort && fields.get('master_link_status') === 'up'
    return following && Number(fields.get('slave_repl_offset')) >= offset
  })
}

/**
 * Hands the group's master over to a replica, as `owner` (a lock). Returns the new master's address,
 * or throws why it did not (the master is then unchanged, or the pause expires by itself: see the
 * file's comment).
 */
export async function handOverMaster(sentinel: Redis, group: string, nodes: GroupNodes, owner: string): Promise<string> {
  const { master } = nodes
  // One hand-over at a time for the group, by whichever replica of the service asks first (which may
  // try again after one that did not happen).
  const locked = await master.redis.set(HANDOVER_LOCK_KEY, owner, 'PX', HANDOVER_LOCK_MS, 'NX')
  if (!locked && (await master.redis.get(HANDOVER_LOCK_KEY)) !== owner) throw new Error('another hand-over of this master is under way or just happened')
  await master.redis.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE')
  const unpause = () => master.redis.call('CLIENT', 'UNPAUSE').catch(() => {})
  try {
    const info = await infoFields(master.redis, 'replication')
    if (info.get('role') !== 'master') throw new Error(`${master.address} is no longer a master`)
    const offset = Number(info.get('master_repl_offset'))
    const candidates = await promotableReplicas(sentinel, group)
    if (candidates.length === 0) throw new Error('Sentinel knows no replica it could promote')
    const missing = candidates.find((address) => !nodes.replicas.has(address))
    if (missing) throw new Error(`no connection to replica ${missing}`)
    const caughtUp = await Promise.all(candidates.map((address) => catchUp(nodes.replicas.get(address)!, master.address, offset)))
    const behind = candidates.filter((_, i) => !caughtUp[i])
    if (behind.length > 0) throw new Error(`replicas ${behind.join(', ')} did not catch up with offset ${offset}`)
    // The pause starts over (a longer one replaces it): the failover gets all of it, however long the
    // replicas took.
    await master.redis.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE')
  } catch (err) {
    await unpause()
    throw err
  }
  const refused = await sentinel.call('SENTINEL', 'FAILOVER', group).then(
    () => undefined,
    (err: Error) => err,
  )
  if (refused && /NOGOODSLAVE/.test(refused.message)) {
    await unpause()
    throw refused
  }
  // From here a failover may be under way: this one, one whose answer was lost, or another (INPROG).
  let promoted = master.address
  const switched = await until(SWITCH_MS, async () => (promoted = await masterAddress(sentinel, group)) !== master.address)
  if (!switched) {
    const state = sentinelFields(await sentinel.call('SENTINEL', 'MASTER', group).catch(() => []))
    // Given up by Sentinel, with the master unchanged: it may take writes again.
    if (!(state.flags ?? 'failover_in_progress').includes('failover_in_progress')) await unpause()
    throw new Error('Sentinel did not promote a replica')
  }
  // What Sentinel would do some seconds later: the old master follows the new one, so a client that
  // still finds it refuses writes (READONLY) instead of taking ones nobody replicates.
  const [host, port] = promoted.split(':')
  // Not done (a slow link): Sentinel re-points it within seconds, and the pause ends by itself.
  await master.redis.call('REPLICAOF', host!, port!).then(unpause, () => {})
  return promoted
}
