// The faults a chaos run injects, in order, and how to find their victims at the moment they strike
// (the current Redis master of a group, the active Kafka controller, ...).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { parseHostPort } from '../../platform/config.js'
import { sentinelFields } from '../../platform/redis.js'
import type { Cluster, Cut, DataGroup, LinkQuality, SignalScope } from '../cluster/cluster.js'

export interface Fault {
  label: string
  /** How long the fault lasts when it undoes itself later than the usual window (network faults). */
  lastsMs?: number
  /** Applies the fault; returns the process it hit (none for a network fault) and what it did, e.g. "SIGKILL redis-stock-2". */
  strike(cluster: Cluster): Promise<{ victim?: string; action: string }>
}

const kill = (label: string, victim: (cluster: Cluster) => Promise<string> | string, scope: SignalScope = 'process'): Fault => ({
  label,
  async strike(cluster) {
    const name = await victim(cluster)
    cluster.kill(name, 'SIGKILL', scope)
    return { victim: name, action: `SIGKILL ${name}${scope === 'group' ? ' and its process group' : ''}` }
  },
})

const freeze = (label: string, victim: (cluster: Cluster) => Promise<string> | string, pauseMs: number): Fault => ({
  label: `${label} frozen ${pauseMs / 1000}s`,
  async strike(cluster) {
    const name = await victim(cluster)
    cluster.pause(name)
    setTimeout(() => cluster.resume(name), pauseMs).unref()
    return { victim: name, action: `SIGSTOP ${name}, SIGCONT after ${pauseMs} ms` }
  },
})

/** A cut between hosts (and the gateway), healed after `lastsMs`. */
const cutOff = (label: string, spec: (cluster: Cluster) => Promise<Cut> | Cut, lastsMs: number): Fault => ({
  label: `${label} ${lastsMs / 1000}s`,
  lastsMs,
  async strike(cluster) {
    const chosen = await spec(cluster)
    cluster.partition(chosen)
    setTimeout(() => cluster.heal(), lastsMs).unref()
    const other = chosen.from ? chosen.from.join(',') : 'everyone else'
    return { action: `cut ${chosen.side.join(',')} ${chosen.oneway ? '->' : '<->'} ${other}, healed after ${lastsMs} ms` }
  },
})

const slowLink = (host: string, quality: LinkQuality, lastsMs: number): Fault => ({
  label: `${host} slow lossy link ${lastsMs / 1000}s`,
  lastsMs,
  async strike(cluster) {
    cluster.degradeLink(host, quality)
    setTimeout(() => cluster.heal(), lastsMs).unref()
    return { action: `${host}'s link at ${quality.rate}, ${quality.loss} of packets lost each way, healed after ${lastsMs} ms` }
  },
})

const hostOf = async (cluster: Cluster, process: Promise<string> | string) => {
  const name = await process
  return cluster.processes.find((p) => p.name === name)!.host
}

/**
 * The hosts profile's network faults: each host isolated in turn, the active Kafka controller's host,
 * a Redis master's host cut from the other Sentinels only (the gateway still reaches it), a one-way
 * cut, a partition longer than every timeout, and a slow, lossy link.
 */
export function networkFaultPlan(cluster: Cluster): Fault[] {
  const hosts = cluster.network?.hosts.map((host) => host.name) ?? []
  if (hosts.length === 0) return []
  const others = (host: string) => hosts.filter((name) => name !== host)
  return [
    ...hosts.map((host) => cutOff(`${host} isolated`, () => ({ side: [host] }), 20_000)),
    cutOff('kafka active controller host isolated', async (c) => ({ side: [await hostOf(c, activeKafkaController(c))] }), 20_000),
    cutOff('redis master (payment) host cut from the other sentinels', async (c) => {
      const host = await hostOf(c, redisNode(c, 'payment', 'master'))
      return { side: [host], from: others(host) }
    }, 20_000),
    cutOff(`one-way ${hosts[1]} -> ${hosts[2]}`, () => ({ side: [hosts[1]!], from: [hosts[2]!], oneway: true }), 20_000),
    cutOff(`${hosts[2]} isolated (long)`, () => ({ side: [hosts[2]!] }), 30_000),
    // A rate, not a delay: this machine's kernel has no netem.
    slowLink(hosts[1]!, { rate: '1mbit', loss: '5%' }, 20_000),
  ]
}

/**
 * Every role once by SIGKILL, then every role frozen (SIGSTOP, then SIGCONT) for `pauseMs`, longer
 * than every failure timeout: a frozen process is alive but silent, a gray failure its peers must
 * ride out without a restart of their own.
 */
export function faultPlan(pauseMs: number): Fault[] {
  let firstKafkaVictim = ''
  return [
    kill('order replica', () => 'order-1'),
    kill('stock replica', () => 'stock-2'),
    kill('payment replica', () => 'payment-3'),
    kill('kafka active controller', (c) => (firstKafkaVictim = activeKafkaController(c))),
    kill('kafka broker', (c) => otherKafkaBroker(c, [activeKafkaController(c), firstKafkaVictim])),
    kill('redis master (stock)', (c) => redisNode(c, 'stock', 'master')),
    kill('redis replica (payment)', (c) => redisNode(c, 'payment', 'replica')),
    kill('sentinel', () => 'sentinel-1'),
    // What `docker kill` does: the workers die too, and the connections they held are reset. It goes
    // first: after a master-only kill the old workers keep the workload's connections while it runs.
    kill('gateway with its workers', () => 'gateway', 'group'),
    kill('gateway master', () => 'gateway'),
    freeze('order replica', () => 'order-2', pauseMs),
    freeze('stock replica', () => 'stock-3', pauseMs),
    freeze('payment replica', () => 'payment-1', pauseMs),
    freeze('kafka active controller', (c) => (firstKafkaVictim = activeKafkaController(c)), pauseMs),
    freeze('kafka broker', (c) => otherKafkaBroker(c, [activeKafkaController(c), firstKafkaVictim]), pauseMs),
    freeze('redis master (order)', (c) => redisNode(c, 'order', 'master'), pauseMs),
    freeze('redis replica (stock)', (c) => redisNode(c, 'stock', 'replica'), pauseMs),
    freeze('sentinel', () => 'sentinel-2', pauseMs),
    freeze('gateway master', () => 'gateway', pauseMs),
  ]
}

/** The KRaft leader, as the nodes record it in their quorum state. */
export function activeKafkaController(cluster: Cluster): string {
  for (const node of cluster.processes.filter((p) => p.role === 'kafka' && p.alive)) {
    try {
      const state = JSON.parse(readFileSync(join(cluster.runDir, node.name, 'data', '__cluster_metadata-0', 'quorum-state'), 'utf8')) as { leaderId?: number }
      if (state.leaderId && state.leaderId > 0) return `kafka-${state.leaderId}`
    } catch {
      // a node that has not written its state yet; ask the next one
    }
  }
  return 'kafka-1'
}

/** A broker that is not the active controller and was not hit just before: a second, different fault. */
function otherKafkaBroker(cluster: Cluster, besides: string[]): string {
  const brokers = cluster.processes.filter((p) => p.role === 'kafka' && p.alive)
  return (brokers.find((p) => !besides.includes(p.name)) ?? brokers.find((p) => p.name !== besides[0]) ?? brokers[0]!).name
}

/** The process that Sentinel currently names master of a group, or a replica of it. */
export async function redisNode(cluster: Cluster, group: DataGroup, which: 'master' | 'replica'): Promise<string> {
  const endpoint = cluster.redis[group]
  const members = groupMembers(cluster, group)
  if (!endpoint.sentinels?.length) return members[0]!.name
  const sentinel = sentinelClient(cluster, endpoint.sentinels[0]!)
  try {
    await sentinel.connect()
    const [, masterPort] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', endpoint.masterName)) as [string, string]
    const master = members.find((m) => String(m.port) === masterPort) // ports are unique in a cluster
    if (!master) throw new Error(`no process of group ${group} listens on master port ${masterPort}`)
    return which === 'master' ? master.name : members.find((m) => m !== master)!.name
  } finally {
    sentinel.disconnect()
  }
}

/**
 * Whether every Sentinel sees every group alike and up to date: the same master, which last reported
 * itself master, and every other member last reporting itself its replica, link up. The next fault
 * waits for this. A Sentinel acts on the role an instance last reported: a partition struck 4 s after
 * that Sentinel had turned the old master into a replica (its next look is 10 s later), and when the
 * partition healed it took the master the others had promoted meanwhile for a replica that still
 * claimed to be master, and made it a replica again, before it heard of the failover: every write since
 * the failover was lost. Redis Sentinel waits 8 s from a role change it sees, not from one it missed.
 */
export async function sentinelsSettled(cluster: Cluster): Promise<boolean> {
  for (const group of Object.keys(cluster.redis) as DataGroup[]) {
    const endpoint = cluster.redis[group]
    const members = groupMembers(cluster, group).length
    const masters = new Set<string>()
    for (const address of endpoint.sentinels ?? []) {
      const sentinel = sentinelClient(cluster, address)
      try {
        await sentinel.connect()
        const master = sentinelFields((await sentinel.call('SENTINEL', 'master', endpoint.masterName)) as string[])
        const replicas = ((await sentinel.call('SENTINEL', 'replicas', endpoint.masterName)) as string[][]).map(sentinelFields)
        const at = `${master.ip}:${master.port}`
        masters.add(at)
        const settled =
          master.flags === 'master' &&
          master['role-reported'] === 'master' &&
          replicas.length === members - 1 &&
          replicas.every((r) => r.flags === 'slave' && r['role-reported'] === 'slave' && r['master-link-status'] === 'ok' && `${r['master-host']}:${r['master-port']}` === at)
        if (!settled) return false
      } catch {
        return false
      } finally {
        sentinel.disconnect()
      }
    }
    if (masters.size > 1) return false
  }
  return true
}

/** The Redis processes of a data group (named redis-<group>-N). */
export function groupMembers(cluster: Cluster, group: DataGroup) {
  return cluster.processes.filter((p) => p.role === 'redis' && p.name.startsWith(`redis-${group}-`))
}

function sentinelClient(cluster: Cluster, address: string): Redis {
  const password = cluster.credentials?.sentinelPassword
  return new Redis({ ...parseHostPort(address), password, lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 2000, commandTimeout: 2000 })
}
