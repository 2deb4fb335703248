// How the launcher runs a replica of order, stock or payment.
import type { Placement } from './network.js'
import { inRepo } from './paths.js'
import { httpStatus } from './probes.js'
import type { ProcessSpec } from './processes.js'
import type { ServiceRole } from './roles.js'

export function serviceSpec(role: ServiceRole, instance: number, host: Placement, port: number, env: Record<string, string>): ProcessSpec {
  return {
    name: `${role}-${instance}`,
    role,
    host,
    port,
    launch: async () => ({ command: process.execPath, args: [inRepo(`dist/services/${role}/main.js`)], env }),
    isReady: async () => (await httpStatus(`http://${host.address}:${port}/health`)) === 200,
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 10_000,
  }
}
