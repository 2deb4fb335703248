// The workers of a killed nginx master live on and keep serving the connections they hold, so a
// gateway kill resets nothing. The restarted gateway listens beside them (the listen sockets have
// SO_REUSEPORT), and each group of such workers is told to quit gracefully (SIGQUIT) once it holds
// no client connection and has none waiting to be accepted: a quit closes idle keep-alive
// connections, which would race a client just reusing one.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { allPids, commandOf, groupMembers, processGroupOf } from './proc.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { sendSignal, type Leftovers } from './processes.js'

// Each check reads /proc (all processes, the TCP table): not more often than needed to notice idleness.
const CHECK_INTERVAL_MS = 500
/** Idle on this many checks in a row: a connection accepted between two checks shows on the next. */
const IDLE_CHECKS_BEFORE_QUIT = 2
const STOP_TIMEOUT_MS = 3000

export class DrainingWorkers implements Leftovers {
  /** Process group → idle checks in a row, or 'quitting' once told to quit. */
  private readonly draining = new Map<number, number | 'quitting'>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly port: number) {}

  adopt(pgid: number, log: (line: string) => void): void {
    const members = groupMembers(pgid)
    if (members.length === 0) return
    log(`gateway: the killed master's workers (pid ${members.join(', ')}) keep serving their connections until idle`)
    this.draining.set(pgid, 0)
    this.timer ??= setInterval(() => this.check(log), CHECK_INTERVAL_MS)
  }

  groups(): number[] {
    return [...this.draining.keys()]
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    for (const pgid of this.draining.keys()) sendSignal(pgid, 'SIGTERM', 'group')
    const deadline = Date.now() + STOP_TIMEOUT_MS
    while (this.groups().some((pgid) => groupMembers(pgid).length > 0) && Date.now() < deadline) await sleep(100)
    for (const pgid of this.draining.keys()) sendSignal(pgid, 'SIGKILL', 'group')
    this.draining.clear()
  }

  private check(log: (line: string) => void): void {
    const sockets = gatewaySockets(this.port)
    for (const [pgid, state] of this.draining) {
      const members = groupMembers(pgid)
      if (members.length === 0) {
        log(`gateway: the killed master's workers have quit`)
        this.draining.delete(pgid)
        continue
      }
      if (state === 'quitting') continue
      const busy = members.some((pid) =>
        socketInodes(pid).some((inode) => sockets.connections.has(inode) || (sockets.acceptQueue.get(inode) ?? 0) > 0),
      )
      const idleChecks = busy ? 0 : state + 1
      if (idleChecks < IDLE_CHECKS_BEFORE_QUIT) {
        this.draining.set(pgid, idleChecks)
      } else {
        sendSignal(pgid, 'SIGQUIT', 'group')
        this.draining.set(pgid, 'quitting')
      }
    }
    if (this.draining.size === 0) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }
}

/**
 * The process groups of nginx workers still listening on the gateway's port: what a supervisor that
 * died without stopping them (it was SIGKILLed) left behind, for `cluster down` to end.
 */
export function gatewayWorkerGroups(port: number): number[] {
  const listeners = new Set(gatewaySockets(port).acceptQueue.keys())
  const groups = new Set<number>()
  for (const pid of allPids()) {
    const group = processGroupOf(pid)
    if (group !== undefined && commandOf(pid).startsWith('nginx') && socketInodes(pid).some((inode) => listeners.has(inode))) groups.add(group)
  }
  return [...groups]
}

/** The inodes of a process' open sockets. */
function socketInodes(pid: number): number[] {
  const inodes: number[] = []
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match) inodes.push(Number(match[1]))
    }
  } catch {
    // gone, or its fds changed while listing: the next check sees it again
  }
  return inodes
}

const LISTEN = '0A'

/**
 * The TCP sockets on the gateway's port, from /proc/net/tcp{,6}: client connections by inode, and
 * each listening socket's accept queue length (a listener's rx_queue column).
 */
function gatewaySockets(port: number): { connections: Set<number>; acceptQueue: Map<number, number> } {
  const connections = new Set<number>()
  const acceptQueue = new Map<number, number>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[]
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1)
    } catch {
      continue // no IPv6
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      const [, local, , state, queues, , , , , inodeText] = fields as string[]
      const inode = Number(inodeText)
      if (inode === 0 || parseInt(local!.split(':').pop()!, 16) !== port) continue
      if (state === LISTEN) acceptQueue.set(inode, parseInt(queues!.split(':')[1]!, 16))
      else connections.add(inode)
    }
  }
  return { connections, acceptQueue }
}
