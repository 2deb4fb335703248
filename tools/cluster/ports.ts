// Hands out the cluster's TCP ports: the conventional ones, ones laid out from a base port (a second
// cluster beside the first), or free ones picked by the kernel (tests).
import { createServer } from 'node:net'
import type { Role } from './roles.js'

export type PortFamily = Role

export type PortMode = { kind: 'conventional' } | { kind: 'base'; basePort: number } | { kind: 'free' }

export const CONVENTIONAL: Record<PortFamily, number> = {
  gateway: 8000,
  order: 8101,
  stock: 8201,
  payment: 8301,
  redis: 6380, // 6379 is left to a system Redis
  sentinel: 26380,
  kafka: 9092,
  prometheus: 9090,
  exporter: 9401,
}

function laidOutFrom(basePort: number): Record<PortFamily, number> {
  return {
    gateway: basePort,
    order: basePort + 101,
    stock: basePort + 201,
    payment: basePort + 301,
    redis: basePort + 501,
    sentinel: basePort + 601,
    kafka: basePort + 701,
    prometheus: basePort + 801,
    exporter: basePort + 811,
  }
}

export interface PortAllocator {
  take(family: PortFamily): Promise<number>
}

/** Ports named by the environment (GATEWAY_PORT, PROMETHEUS_PORT): the single process of a family. */
export function portOverrides(env: NodeJS.ProcessEnv = process.env): Partial<Record<PortFamily, number>> {
  const overrides: Partial<Record<PortFamily, number>> = {}
  if (env.GATEWAY_PORT) overrides.gateway = Number(env.GATEWAY_PORT)
  if (env.PROMETHEUS_PORT) overrides.prometheus = Number(env.PROMETHEUS_PORT)
  return overrides
}

export function portAllocator(mode: PortMode, overrides: Partial<Record<PortFamily, number>> = {}): PortAllocator {
  if (mode.kind === 'free') return freePortAllocator()
  const firstPorts = mode.kind === 'base' ? laidOutFrom(mode.basePort) : CONVENTIONAL
  const taken = new Map<PortFamily, number>()
  return {
    async take(family) {
      const override = overrides[family]
      if (override !== undefined) return override
      const count = taken.get(family) ?? 0
      taken.set(family, count + 1)
      return firstPorts[family] + count
    },
  }
}

function freePortAllocator(): PortAllocator {
  const handedOut = new Set<number>()
  return {
    async take() {
      // The kernel may hand a just-released port out again; skip the ones this cluster already holds.
      for (;;) {
        const port = await bindAndRelease(0)
        if (!handedOut.has(port)) {
          handedOut.add(port)
          return port
        }
      }
    },
  }
}

/** Fails fast, naming who needs it, when a port the cluster needs is already taken. */
export async function assertPortsFree(claims: { name: string; port: number }[]): Promise<void> {
  const taken: string[] = []
  for (const { name, port } of claims) {
    if (!(await bindAndRelease(port).then(() => true, () => false))) taken.push(`${port} (${name})`)
  }
  if (taken.length > 0) throw new Error(`ports already in use: ${taken.join(', ')}; another cluster running? try --base-port`)
}

/** Binds 127.0.0.1:port (0 = any) and lets it go again; resolves to the port bound. */
function bindAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      const bound = typeof address === 'object' && address ? address.port : port
      server.close(() => resolve(bound))
    })
  })
}
