// Kafka in KRaft mode, every node a combined broker + controller with a static voter set.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KAFKA_SASL_MECHANISM, type Credentials } from './credentials.js'
import type { Placement } from './network.js'
import { inRepo } from './paths.js'
import { logContains } from './probes.js'
import type { ProcessSpec } from './processes.js'

export interface KafkaNode {
  id: number
  name: string
  host: Placement
  brokerPort: number
  controllerPort: number
  /** With --observe: where the JMX exporter's agent serves the broker's metrics. */
  metricsPort?: number
}

export interface KafkaSettings {
  nodes: KafkaNode[]
  clusterId: string
  replicationFactor: number
  minInsyncReplicas: number
  heap: string
  runDir: string
  /** With credentials: SASL on every listener (SCRAM for clients and between brokers, PLAIN to the controllers). */
  credentials?: Credentials['kafka']
}

const READY_LINE = 'Kafka Server started'

/** A Kafka cluster id: 16 random bytes, URL-safe base64, never starting with '-' (the CLI would read an option). */
export function newKafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

export function kafkaNodeSpec(node: KafkaNode, settings: KafkaSettings): ProcessSpec {
  const nodeDir = join(settings.runDir, node.name)
  const propertiesPath = join(nodeDir, 'server.properties')
  return {
    name: node.name,
    role: 'kafka',
    host: node.host,
    port: node.brokerPort,
    async launch(restart) {
      if (!restart) await prepareNode(node, settings, nodeDir, propertiesPath)
      return { command: 'java', args: [...jvmOptions(settings.heap), ...metricsAgent(node), 'kafka.Kafka', propertiesPath] }
    },
    isReady: ({ logPath, logOffset }) => logContains(logPath, READY_LINE, logOffset),
    readyTimeoutMs: 120_000,
    stopTimeoutMs: 20_000,
  }
}

function jvmOptions(heap: string): string[] {
  return [
    '-Xms256m',
    `-Xmx${heap}`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    // The C1 compiler only. C2's compile threads were 40% of the brokers' CPU for minutes after
    // start-up on 2 cores (three JVMs compiling at once): with C1 alone a fresh ha cluster ran 1.9x the
    // checkouts of its first 30 s, and still 1.24x after two minutes (docs/BENCHMARKS.md).
    '-XX:TieredStopAtLevel=1',
    // Extra flags for experiments, e.g. KAFKA_EXTRA_JVM_OPTS="-XX:+UseSerialGC".
    ...(process.env.KAFKA_EXTRA_JVM_OPTS ?? '').split(' ').filter(Boolean),
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${inRepo('kafka/log4j2.xml')}`,
    '-cp',
    `${inRepo('kafka/lib')}/*`,
  ]
}

/** Prometheus's JMX exporter as a Java agent (fetched by tools/setup.sh), reading kafka/jmx-exporter.yaml. */
function metricsAgent(node: KafkaNode): string[] {
  if (node.metricsPort === undefined) return []
  return [`-javaagent:${inRepo('kafka/agents/jmx_prometheus_javaagent.jar')}=${node.host.address}:${node.metricsPort}:${inRepo('kafka/jmx-exporter.yaml')}`]
}

/** Writes server.properties and formats the storage, unless a previous run of this folder already did. */
async function prepareNode(node: KafkaNode, settings: KafkaSettings, nodeDir: string, propertiesPath: string): Promise<void> {
  const dataDir = join(nodeDir, 'data')
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(propertiesPath, renderServerProperties(node, settings, dataDir), { mode: 0o600 }) // it may hold passwords
  if (existsSync(join(dataDir, 'meta.properties'))) return
  // SCRAM credentials live in the cluster's metadata: created when the storage is formatted.
  const scramUsers = settings.credentials ? [settings.credentials.broker, settings.credentials.admin, ...Object.values(settings.credentials.services)] : []
  const addScram = scramUsers.flatMap(({ username, password }) => ['--add-scram', `${KAFKA_SASL_MECHANISM}=[name=${username},password=${password}]`])
  const format = ['kafka.tools.StorageTool', 'format', '-t', settings.clusterId, '-c', propertiesPath, ...addScram]
  await promisify(execFile)('java', [...jvmOptions('256m'), ...format]).catch((error: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(`formatting ${node.name} failed: ${error.stdout ?? ''}${error.stderr ?? error.message}`)
  })
}

/** Plain listeners, or SASL on both: SCRAM for clients and between brokers, PLAIN to the controllers. */
function listenerSecurity(credentials: Credentials['kafka'] | undefined): Record<string, string> {
  if (!credentials) return { 'listener.security.protocol.map': 'BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT' }
  const { broker, controller } = credentials
  return {
    'listener.security.protocol.map': 'BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT',
    'listener.name.broker.sasl.enabled.mechanisms': KAFKA_SASL_MECHANISM,
    'sasl.mechanism.inter.broker.protocol': KAFKA_SASL_MECHANISM,
    'listener.name.broker.scram-sha-256.sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="${broker.username}" password="${broker.password}";`,
    'listener.name.controller.sasl.enabled.mechanisms': 'PLAIN',
    'sasl.mechanism.controller.protocol': 'PLAIN',
    // What this node sends (username/password), and what it accepts (user_<name>).
    'listener.name.controller.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required username="${controller.username}" password="${controller.password}" user_${controller.username}="${controller.password}";`,
  }
}

function renderServerProperties(node: KafkaNode, settings: KafkaSettings, dataDir: string): string {
  const voters = settings.nodes.map((voter) => `${voter.id}@${voter.host.address}:${voter.controllerPort}`).join(',')
  const { address } = node.host
  const { replicationFactor, minInsyncReplicas } = settings
  const properties: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': node.id,
    'controller.quorum.voters': voters,
    listeners: `BROKER://${address}:${node.brokerPort},CONTROLLER://${address}:${node.controllerPort}`,
    'advertised.listeners': `BROKER://${address}:${node.brokerPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'BROKER',
    ...listenerSecurity(settings.credentials),
    'log.dirs': dataDir,
    'num.partitions': 3,
    'default.replication.factor': replicationFactor,
    'min.insync.replicas': minInsyncReplicas,
    'offsets.topic.replication.factor': replicationFactor,
    'transaction.state.log.replication.factor': replicationFactor,
    'transaction.state.log.min.isr': minInsyncReplicas,
    // 50 partitions each (the default) is much work for a small machine and buys nothing here.
    'offsets.topic.num.partitions': 12,
    'transaction.state.log.num.partitions': 12,
    'group.initial.rebalance.delay.ms': 0,
    // The services' consumers use 5 s sessions (a member cut off loses its partitions sooner); the default floor is 6 s.
    'group.min.session.timeout.ms': 3000,
    'auto.create.topics.enable': false,
    'unclean.leader.election.enable': false,
    // A dead broker is fenced (and leaves every ISR) after the session timeout: keep failover in seconds.
    'broker.session.timeout.ms': 4000,
    'broker.heartbeat.interval.ms': 500,
    // A dead active controller is replaced after this; the default (2 s fetch, 1 s election) adds up.
    'controller.quorum.fetch.timeout.ms': 1500,
    'controller.quorum.election.timeout.ms': 750,
    // A follower that has not caught up for this long leaves the ISR (checked every half of it). Until
    // then, every acks=all write to its partitions waits for it, the group coordinator's too: a follower
    // cut off from its leader but not from the controller (a one-way cut) stalled sagas and consumer
    // groups for 10-15 s at 10 s (21 s stalls in the chaos run, 10 s at 4 s).
    'replica.lag.time.max.ms': 4000,
    // Followers keep Kafka's defaults (a fetch waits for 1 byte, or 500 ms): a follower fetch returns as
    // soon as there is data, and an idle one waits. Waiting for 16 KB or 5 ms instead cost the three idle
    // brokers 1.1 cores of a 2-core machine (1,200 empty fetches a second), and bought nothing under load.
    // Few cores: fewer threads contend less.
    'num.network.threads': 2,
    'num.io.threads': 2,
  }
  // Overrides for experiments and tuning, e.g. KAFKA_EXTRA_PROPERTIES="num.io.threads=4,log.retention.hours=1".
  for (const pair of (process.env.KAFKA_EXTRA_PROPERTIES ?? '').split(',').filter(Boolean)) {
    const [key, ...value] = pair.split('=')
    properties[key!.trim()] = value.join('=').trim()
  }
  return Object.entries(properties).map(([key, value]) => `${key}=${value}`).join('\n') + '\n'
}
