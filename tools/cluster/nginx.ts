// The nginx gateway: its config is gateway/nginx.conf.template with this cluster's ports filled in.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { inRepo } from './paths.js'
import { DrainingWorkers } from './draining-workers.js'
import type { Placement } from './network.js'
import { httpStatus, type Endpoint } from './probes.js'
import type { ProcessSpec } from './processes.js'
import type { ServiceRole } from './roles.js'

export interface GatewaySettings {
  /** The root namespace: the machine itself, or in the hosts profile the load balancer in front of the hosts. */
  host: Placement
  port: number
  /** Where clients reach it (127.0.0.1), and in the hosts profile the address the hosts reach it at. */
  addresses: string[]
  upstreams: Record<ServiceRole, Endpoint[]>
  /** Checkouts the gateway lets into the services at once; more are answered 429 at once. */
  checkoutLimit: number
  runDir: string
  /** With --observe: nginx's stub_status on this port (127.0.0.1 only), for the nginx exporter. */
  statusPort?: number
}

/**
 * One `server` line per replica; a replica that fails is skipped for a couple of seconds (never, for
 * checkouts: see the template). Each is also a backup, never skipped: when every replica has just failed
 * (all slow through one Redis failover, or a host cut off and the others timed out), nginx tries them
 * again rather than answering 502 at once.
 */
const serverLines = (replicas: Endpoint[], { skipFailing = true } = {}) =>
  [
    ...replicas.map(({ address, port }) => `    server ${address}:${port} ${skipFailing ? 'max_fails=1 fail_timeout=2s' : 'max_fails=0'};`),
    ...replicas.map(({ address, port }) => `    server ${address}:${port} backup max_fails=0;`),
  ].join('\n')

const statusServer = (port: number) => `  # Connection and request counters for the nginx exporter (--observe); not on the public port.
  server {
    listen 127.0.0.1:${port};
    location = /stub_status {
      stub_status;
    }
  }`

function renderGatewayConfig({ port, addresses, upstreams, checkoutLimit, statusPort }: GatewaySettings): string {
  const values: Record<string, string> = {
    CHECKOUT_LIMIT: String(checkoutLimit),
    LISTEN: addresses.map((address) => `listen ${address}:${port} backlog=4096 reuseport;`).join('\n    '),
    WORKER_USER: process.getuid?.() === 0 ? 'user root;' : '',
    STATUS_SERVER: statusPort === undefined ? '' : statusServer(statusPort),
    ORDER_SERVERS: serverLines(upstreams.order),
    ORDER_CHECKOUT_SERVERS: serverLines(upstreams.order, { skipFailing: false }),
    STOCK_SERVERS: serverLines(upstreams.stock),
    PAYMENT_SERVERS: serverLines(upstreams.payment),
  }
  const template = readFileSync(inRepo('gateway/nginx.conf.template'), 'utf8')
  return template.replace(/\{\{(\w+)\}\}/g, (placeholder, key: string) => {
    const value = values[key]
    if (value === undefined) throw new Error(`gateway template: unknown placeholder ${placeholder}`)
    return value
  })
}

export function gatewaySpec(settings: GatewaySettings): ProcessSpec {
  const prefix = join(settings.runDir, 'gateway') + '/'
  return {
    name: 'gateway',
    role: 'gateway',
    host: settings.host,
    port: settings.port,
    async launch() {
      mkdirSync(join(prefix, 'temp'), { recursive: true })
      mkdirSync(join(prefix, 'public'), { recursive: true })
      // The contract, as JSON, for GET /openapi.json.
      writeFileSync(join(prefix, 'public', 'openapi.json'), JSON.stringify(parse(readFileSync(inRepo('docs/openapi.yaml'), 'utf8'))))
      writeFileSync(join(prefix, 'nginx.conf'), renderGatewayConfig(settings))
      return { command: 'nginx', args: ['-p', prefix, '-c', 'nginx.conf'] }
    },
    // Any answer will do (GET / is a 404): nginx is listening with this config.
    isReady: async () => (await httpStatus(`http://127.0.0.1:${settings.port}/`)) !== undefined,
    readyTimeoutMs: 15_000,
    stopTimeoutMs: 5000,
    leftovers: new DrainingWorkers(settings.port),
  }
}
