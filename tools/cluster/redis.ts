// Redis servers (one master, optionally a replica, per data group) and the Sentinels that watch them.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { redisCall } from './probes.js'
import type { ProcessSpec } from './processes.js'

export interface RedisMember {
  name: string
  group: string
  port: number
  /** The port of the group's master at start-up; undefined for the master itself. */
  replicaOf?: number
}

export interface SentinelSettings {
  ports: number[]
  quorum: number
  downAfterMs: number
  failoverTimeoutMs: number
}

/** How long a restarting master waits for the Sentinels to promote its replica before coming back as it was. */
const FAILOVER_WAIT_MS = 20_000

/** Renders a config file unless one exists: Redis and Sentinel rewrite their own after a failover. */
function writeConfigOnce(dir: string, fileName: string, lines: string[]): string {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, fileName)
  if (!existsSync(path)) writeFileSync(path, lines.join('\n') + '\n')
  return path
}

const commonLines = (port: number, dir: string) => [
  `port ${port}`,
  'bind 127.0.0.1',
  'protected-mode no',
  'daemonize no',
  'logfile ""',
  `dir ${dir}`,
]

export function redisSpec(member: RedisMember, runDir: string, sentinels: SentinelSettings | undefined): ProcessSpec {
  const dir = join(runDir, member.name)
  return {
    name: member.name,
    role: 'redis',
    port: member.port,
    async launch(restart) {
      const configPath = writeConfigOnce(dir, 'redis.conf', [
        ...commonLines(member.port, dir),
        'appendonly yes',
        'appendfsync everysec',
        'save ""',
        'maxmemory 0',
        // Replicas sync straight from memory, at once: a restarted replica is back in sync sooner.
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
        'repl-backlog-size 16mb',
        ...(member.replicaOf === undefined ? [] : [`replicaof 127.0.0.1 ${member.replicaOf}`]),
      ])
      const args = [configPath]
      if (restart && sentinels) {
        const master = await masterOnceFailedOver(member, sentinels)
        if (master !== member.port) args.push('--replicaof', '127.0.0.1', String(master))
      }
      return { command: 'redis-server', args }
    },
    async isReady() {
      if ((await redisCall(member.port, 'PING')) !== 'PONG') return false // PING fails while the AOF loads
      const replication = String(await redisCall(member.port, 'INFO', 'replication'))
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
async function masterOnceFailedOver(member: RedisMember, sentinels: SentinelSettings): Promise<number> {
  const deadline = Date.now() + FAILOVER_WAIT_MS
  for (;;) {
    const master = await masterSeenByMajority(member.group, sentinels)
    if ((master !== undefined && master !== member.port) || Date.now() > deadline) return master ?? member.port
    await sleep(500)
  }
}

async function masterSeenByMajority(group: string, sentinels: SentinelSettings): Promise<number | undefined> {
  const answers = await Promise.all(
    sentinels.ports.map((port) =>
      redisCall(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', group).then(
        (address) => (Array.isArray(address) ? Number(address[1]) : undefined),
        () => undefined,
      ),
    ),
  )
  const majority = Math.floor(sentinels.ports.length / 2) + 1
  return answers.find((port) => port !== undefined && answers.filter((other) => other === port).length >= majority)
}

export interface MonitoredGroup {
  group: string
  masterPort: number
  replicas: number
}

export function sentinelSpec(name: string, port: number, groups: MonitoredGroup[], settings: SentinelSettings, runDir: string): ProcessSpec {
  const dir = join(runDir, name)
  return {
    name,
    role: 'sentinel',
    port,
    async launch() {
      const configPath = writeConfigOnce(dir, 'sentinel.conf', [
        ...commonLines(port, dir),
        'sentinel resolve-hostnames no',
        ...groups.flatMap(({ group, masterPort }) => [
          `sentinel monitor ${group} 127.0.0.1 ${masterPort} ${settings.quorum}`,
          `sentinel down-after-milliseconds ${group} ${settings.downAfterMs}`,
          `sentinel failover-timeout ${group} ${settings.failoverTimeoutMs}`,
          `sentinel parallel-syncs ${group} 1`,
        ]),
      ])
      return { command: 'redis-sentinel', args: [configPath] }
    },
    // Ready once it can authorise a failover of every group and knows each group's replicas.
    async isReady() {
      for (const { group, replicas } of groups) {
        if (!String(await redisCall(port, 'SENTINEL', 'CKQUORUM', group)).startsWith('OK')) return false
        const known = await redisCall(port, 'SENTINEL', 'REPLICAS', group)
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
