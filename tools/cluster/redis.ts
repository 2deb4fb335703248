// Redis servers (one master, optionally a replica, per data group) and the Sentinels that watch them.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { redisCall, type Endpoint } from './probes.js'
import type { Login } from './credentials.js'
import type { Placement } from './network.js'
import type { ProcessSpec } from './processes.js'

export interface RedisMember extends Endpoint {
  name: string
  group: string
  host: Placement
  /** The group's master at start-up; undefined for the master itself. */
  replicaOf?: Endpoint
}

export interface SentinelSettings {
  endpoints: Endpoint[]
  /** With credentials: the Sentinels' requirepass, and the user they log in to Redis as. */
  password?: string
  redisLogin?: Login
  quorum: number
  downAfterMs: number
  failoverTimeoutMs: number
}

/** Seconds without a replica's acknowledgement after which a master counts it as gone (it acks every second). */
const MIN_REPLICAS_MAX_LAG_S = 10

/** How long a restarting master waits for the Sentinels to promote its replica before coming back as it was. */
const FAILOVER_WAIT_MS = 20_000

/** Renders a config file unless one exists: Redis and Sentinel rewrite their own after a failover. */
function writeConfigOnce(dir: string, fileName: string, lines: string[]): string {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, fileName)
  if (!existsSync(path)) writeFileSync(path, lines.join('\n') + '\n', { mode: 0o600 }) // it may hold passwords
  return path
}

const commonLines = ({ address, port }: Endpoint, dir: string) => [
  `port ${port}`,
  `bind ${address}`,
  'protected-mode no',
  'daemonize no',
  'logfile ""',
  `dir ${dir}`,
]

/** With credentials: the group's ACL lines (redisAclLines) and the launcher's own login. */
export interface RedisAuth {
  aclLines: string[]
  admin: Login
}

export function redisSpec(member: RedisMember, runDir: string, sentinels: SentinelSettings | undefined, auth?: RedisAuth): ProcessSpec {
  const dir = join(runDir, member.name)
  const target = { address: member.address, port: member.port, ...auth?.admin }
  return {
    name: member.name,
    role: 'redis',
    port: member.port,
    host: member.host,
    async launch(restart) {
      const configPath = writeConfigOnce(dir, 'redis.conf', [
        ...commonLines(member, dir),
        // Replicas announce the address the others reach them at, not the one a connection came from.
        `replica-announce-ip ${member.address}`,
        'appendonly yes',
        'appendfsync everysec',
        'save ""',
        'maxmemory 0',
        // Replicas sync straight from memory, at once: a restarted replica is back in sync sooner.
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
        'repl-backlog-size 16mb',
        ...(member.replicaOf === undefined ? [] : [`replicaof ${member.replicaOf.address} ${member.replicaOf.port}`]),
        // A master that has lost every replica (cut off from them, or they are all down) refuses writes
        // instead of taking ones a promoted replica will not have: with Sentinel, nothing it acknowledged is lost.
        ...(sentinels ? ['min-replicas-to-write 1', `min-replicas-max-lag ${MIN_REPLICAS_MAX_LAG_S}`] : []),
        ...(auth?.aclLines ?? []),
      ])
      const args = [configPath]
      if (restart && sentinels) {
        const master = await masterOnceFailedOver(member, sentinels)
        if (master.port !== member.port) args.push('--replicaof', master.address, String(master.port))
      }
      return { command: 'redis-server', args }
    },
    async isReady() {
      if ((await redisCall(target, 'PING')) !== 'PONG') return false // PING fails while the AOF loads
      const replication = String(await redisCall(target, 'INFO', 'replication'))
      return replication.includes('role:master') || replication.includes('master_link_status:up')
    },
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 10_000,
    // A master that answers Sentinel's PING late under load would be failed over for nothing.
    niceness: -5,
  }
}

/**
 * The port of the group's master as a majority of Sentinels see it. A master that died must not come
 * back as master before the Sentinels promoted its replica: its AOF may lack the last second of writes
 * the replica acknowledged, and the replica would resync from it and lose them. So while the Sentinels
 * still name this member, wait (bounded: if the replica is dead too, nobody can be promoted).
 */
async function masterOnceFailedOver(member: RedisMember, sentinels: SentinelSettings): Promise<Endpoint> {
  const deadline = Date.now() + FAILOVER_WAIT_MS
  for (;;) {
    const master = await masterSeenByMajority(member.group, sentinels)
    if ((master !== undefined && master.port !== member.port) || Date.now() > deadline) return master ?? member
    await sleep(500)
  }
}

async function masterSeenByMajority(group: string, sentinels: SentinelSettings): Promise<Endpoint | undefined> {
  const answers = await Promise.all(
    sentinels.endpoints.map((sentinel) =>
      redisCall({ ...sentinel, password: sentinels.password }, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', group).then(
        (reply) => (Array.isArray(reply) ? `${reply[0]}:${reply[1]}` : undefined),
        () => undefined,
      ),
    ),
  )
  const majority = Math.floor(sentinels.endpoints.length / 2) + 1
  const agreed = answers.find((answer) => answer !== undefined && answers.filter((other) => other === answer).length >= majority)
  if (agreed === undefined) return undefined
  const [address, port] = agreed.split(':')
  return { address: address!, port: Number(port) }
}

export interface MonitoredGroup {
  group: string
  master: Endpoint
  replicas: number
}

export interface SentinelNode extends Endpoint {
  name: string
  host: Placement
}

export function sentinelSpec(sentinel: SentinelNode, groups: MonitoredGroup[], settings: SentinelSettings, runDir: string): ProcessSpec {
  const { name, address, port, host } = sentinel
  const dir = join(runDir, name)
  const target = { address, port, password: settings.password }
  // Sentinel's own password (clients and the other Sentinels), and its login to the Redis servers.
  const authLines = settings.password
    ? [`requirepass ${settings.password}`, `sentinel sentinel-pass ${settings.password}`]
    : []
  const groupAuthLines = (group: string) =>
    settings.redisLogin ? [`sentinel auth-user ${group} ${settings.redisLogin.username}`, `sentinel auth-pass ${group} ${settings.redisLogin.password}`] : []
  return {
    name,
    role: 'sentinel',
    port,
    host,
    async launch() {
      const configPath = writeConfigOnce(dir, 'sentinel.conf', [
        ...commonLines(sentinel, dir),
        'sentinel resolve-hostnames no',
        `sentinel announce-ip ${address}`,
        ...authLines,
        ...groups.flatMap(({ group, master }) => [
          `sentinel monitor ${group} ${master.address} ${master.port} ${settings.quorum}`,
          `sentinel down-after-milliseconds ${group} ${settings.downAfterMs}`,
          `sentinel failover-timeout ${group} ${settings.failoverTimeoutMs}`,
          `sentinel parallel-syncs ${group} 1`,
          ...groupAuthLines(group),
        ]),
      ])
      return { command: 'redis-sentinel', args: [configPath] }
    },
    // Ready once it can authorise a failover of every group and knows each group's replicas.
    async isReady() {
      for (const { group, replicas } of groups) {
        if (!String(await redisCall(target, 'SENTINEL', 'CKQUORUM', group)).startsWith('OK')) return false
        const known = await redisCall(target, 'SENTINEL', 'REPLICAS', group)
        if (!Array.isArray(known) || known.length < replicas) return false
      }
      return true
    },
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 5000,
    // Sentinel enters "tilt" mode when its timer runs late (a starved CPU): keep it scheduled first.
    niceness: -10,
  }
}
