// The faults a chaos run injects, in order, and how to find their victims at the moment they strike
// (the current Redis master of a group, the active Kafka controller, ...).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Cluster, SignalScope } from '../cluster/cluster.js'

export interface Fault {
  label: string
  /** Applies the fault; returns the process it hit and what it did, e.g. "SIGKILL redis-stock-2". */
  strike(cluster: Cluster): Promise<{ victim: string; action: string }>
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
export async function redisNode(cluster: Cluster, group: 'order' | 'stock' | 'payment', which: 'master' | 'replica'): Promise<string> {
  const endpoint = cluster.redis[group]
  const members = cluster.processes.filter((p) => p.role === 'redis' && p.name.startsWith(`redis-${group}-`))
  if (!endpoint.sentinels?.length) return members[0]!.name
  const [host, port] = endpoint.sentinels[0]!.split(':') as [string, string]
  const sentinel = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 2 })
  try {
    await sentinel.connect()
    const [, masterPort] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', endpoint.masterName)) as [string, string]
    const master = members.find((m) => String(m.port) === masterPort)
    if (!master) throw new Error(`no process of group ${group} listens on master port ${masterPort}`)
    return which === 'master' ? master.name : members.find((m) => m !== master)!.name
  } finally {
    sentinel.disconnect()
  }
}
