// What Linux's /proc tells about processes: state, group, command line and CPU time. Used by the
// launcher (faults, leftovers) and by the bench tool's CPU probe.
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ: 100 on every Linux ABI in use). */
const TICKS_PER_SECOND = 100

export interface ProcessStat {
  /** R, S, T (stopped), Z (zombie), ... */
  state: string
  group: number
  /** CPU time spent in user and kernel mode since the process started, in milliseconds. */
  cpuMs: number
}

/** A process' state, group and CPU time from /proc/<pid>/stat; undefined when it is gone. */
export function processStat(pid: number): ProcessStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...:
    // comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return { state: fields[0]!, group: Number(fields[2]), cpuMs: (ticks * 1000) / TICKS_PER_SECOND }
  } catch {
    return undefined
  }
}

/** A live process' group; undefined when it is gone or a zombie. */
export function processGroupOf(pid: number): number | undefined {
  const stat = processStat(pid)
  return stat === undefined || stat.state === 'Z' ? undefined : stat.group
}

export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
}

/** The live (not zombie) processes of a process group. */
export function groupMembers(pgid: number): number[] {
  return allPids().filter((pid) => processGroupOf(pid) === pgid)
}

/** CPU milliseconds of every process of each given group (an nginx master with its workers, say), read in one pass. */
export function groupCpuMs(pgids: number[]): Map<number, number> {
  const totals = new Map(pgids.map((pgid) => [pgid, 0]))
  for (const pid of allPids()) {
    const stat = processStat(pid)
    if (stat === undefined || !totals.has(stat.group)) continue
    totals.set(stat.group, totals.get(stat.group)! + stat.cpuMs)
  }
  return totals
}

/** The command line, arguments joined by NULs ('' when gone). */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return ''
  }
}
