// --observe: Prometheus scraping every process of the topology, with the exporters that Redis and
// nginx need (Debian's prometheus-redis-exporter and prometheus-nginx-exporter; Kafka brokers carry
// the JMX exporter's agent, see kafka.ts). The targets come from the topology, so a new replica is
// scraped with no edit; the rules are the repository's deploy/prometheus/*.yml.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import type { Placement } from './network.js'
import { inRepo } from './paths.js'
import { httpStatus } from './probes.js'
import type { ProcessSpec } from './processes.js'

/** Every scrape target, by what it is; names label the series (`name="order-2"`). */
export interface ObservedTargets {
  services: { name: string; role: string; address: string; port: number }[]
  kafka: { name: string; address: string; metricsPort: number }[]
  redis: { name: string; group: string; address: string; port: number }[]
  sentinels: { name: string; address: string; port: number }[]
  /** nginx's stub_status, read by the nginx exporter. */
  gatewayStatusPort?: number
}

export interface ObservePorts {
  prometheus: number
  redisExporter: number
  nginxExporter: number
}

/** Short intervals: a fault on this small cluster should show within seconds (the alert test relies on it). */
const SCRAPE_INTERVAL = '2s'

/** Prometheus and the exporters run on `host`, the root namespace, which reaches every host. */
export function observabilitySpecs(targets: ObservedTargets, ports: ObservePorts, runDir: string, host: Placement): ProcessSpec[] {
  const dir = join(runDir, 'prometheus')
  const specs: ProcessSpec[] = [
    {
      name: 'prometheus',
      role: 'prometheus',
      host,
      port: ports.prometheus,
      async launch() {
        mkdirSync(join(dir, 'data'), { recursive: true })
        writeFileSync(join(dir, 'prometheus.yml'), renderPrometheusConfig(targets, ports))
        const args = [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          '--storage.tsdb.retention.time=2d',
          `--web.listen-address=127.0.0.1:${ports.prometheus}`,
          '--web.enable-lifecycle',
        ]
        return { command: 'prometheus', args }
      },
      isReady: async () => (await httpStatus(`http://127.0.0.1:${ports.prometheus}/-/ready`)) === 200,
      readyTimeoutMs: 30_000,
      stopTimeoutMs: 10_000,
    },
    {
      name: 'redis-exporter',
      role: 'exporter',
      host,
      port: ports.redisExporter,
      // One exporter for every Redis and Sentinel: Prometheus names the one to read (/scrape?target=).
      launch: async () => ({ command: 'prometheus-redis-exporter', args: [`-web.listen-address=127.0.0.1:${ports.redisExporter}`, '-redis.addr='] }),
      isReady: async () => (await httpStatus(`http://127.0.0.1:${ports.redisExporter}/metrics`)) === 200,
      readyTimeoutMs: 15_000,
      stopTimeoutMs: 5000,
    },
  ]
  if (targets.gatewayStatusPort !== undefined) {
    specs.push({
      name: 'nginx-exporter',
      role: 'exporter',
      host,
      port: ports.nginxExporter,
      launch: async () => ({
        command: 'prometheus-nginx-exporter',
        args: [`-web.listen-address=127.0.0.1:${ports.nginxExporter}`, `-nginx.scrape-uri=http://127.0.0.1:${targets.gatewayStatusPort}/stub_status`],
      }),
      isReady: async () => (await httpStatus(`http://127.0.0.1:${ports.nginxExporter}/metrics`)) === 200,
      readyTimeoutMs: 15_000,
      stopTimeoutMs: 5000,
    })
  }
  return specs
}

export function renderPrometheusConfig(targets: ObservedTargets, ports: ObservePorts): string {
  const local = (port: number) => `127.0.0.1:${port}`
  const each = <T extends { name: string }>(list: T[], address: (t: T) => string, labels: (t: T) => Record<string, string> = () => ({})) =>
    list.map((t) => ({ targets: [address(t)], labels: { name: t.name, ...labels(t) } }))
  // Redis and Sentinel are read through the exporter: the target is the Redis address, passed as ?target=.
  const throughRedisExporter = {
    metrics_path: '/scrape',
    relabel_configs: [
      { source_labels: ['__address__'], target_label: '__param_target' },
      { target_label: '__address__', replacement: local(ports.redisExporter) },
    ],
  }
  const config = {
    global: { scrape_interval: SCRAPE_INTERVAL, scrape_timeout: '1500ms', evaluation_interval: SCRAPE_INTERVAL },
    rule_files: readdirSync(inRepo('deploy/prometheus'))
      .filter((file) => file.endsWith('.yml'))
      .map((file) => inRepo(`deploy/prometheus/${file}`)),
    scrape_configs: [
      { job_name: 'services', static_configs: each(targets.services, (s) => `${s.address}:${s.port}`, (s) => ({ role: s.role })) },
      { job_name: 'kafka', static_configs: each(targets.kafka, (k) => `${k.address}:${k.metricsPort}`) },
      { job_name: 'redis', ...throughRedisExporter, static_configs: each(targets.redis, (r) => `redis://${r.address}:${r.port}`, (r) => ({ group: r.group })) },
      ...(targets.sentinels.length ? [{ job_name: 'sentinel', ...throughRedisExporter, static_configs: each(targets.sentinels, (s) => `redis://${s.address}:${s.port}`) }] : []),
      ...(targets.gatewayStatusPort !== undefined ? [{ job_name: 'gateway', static_configs: [{ targets: [local(ports.nginxExporter)], labels: { name: 'gateway' } }] }] : []),
      { job_name: 'exporters', static_configs: [{ targets: [local(ports.redisExporter)], labels: { name: 'redis-exporter' } }] },
      { job_name: 'prometheus', static_configs: [{ targets: [local(ports.prometheus)], labels: { name: 'prometheus' } }] },
    ],
  }
  return `# Written by tools/cluster/observe.ts from the cluster's topology; rewritten at every start.\n${stringify(config)}`
}
