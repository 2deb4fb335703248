// Small readiness probes: an HTTP status, a Redis command, a line in a log file.
import { open } from 'node:fs/promises'
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

/** Polls `check` until it returns true; a throwing check counts as "not yet". */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    signal?.throwIfAborted()
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await sleep(intervalMs, undefined, { signal })
  }
}

/** The status of GET url, or undefined when nothing answers within a second. */
export function httpStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode)
    })
    req.once('timeout', () => req.destroy())
    req.once('error', () => resolve(undefined))
    req.end()
  })
}

/** Where a process listens: an address of its host, and a port. */
export interface Endpoint {
  address: string
  port: number
}

/** A Redis or Sentinel, and how to log in to it when it requires it. */
export interface RedisTarget extends Endpoint {
  username?: string
  password?: string
}

/** Runs one command on a Redis (or Sentinel) with a fresh, non-retrying connection. */
export async function redisCall({ address, port, username, password }: RedisTarget, command: string, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    host: address,
    port,
    username,
    password,
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  client.on('error', () => {}) // failures surface through the rejected command
  try {
    await client.connect()
    return await client.call(command, ...args)
  } finally {
    client.disconnect()
  }
}

/** Whether the file contains `text` after byte `fromOffset` (the log written since a process started). */
export async function logContains(path: string, text: string, fromOffset: number): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const { size } = await file.stat()
    const buffer = Buffer.alloc(Math.max(0, size - fromOffset))
    await file.read(buffer, 0, buffer.length, fromOffset)
    return buffer.includes(text)
  } finally {
    await file.close()
  }
}
