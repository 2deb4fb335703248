// The committed deployment manifests are what the topology generates, byte for byte (a topology change
// that was not exported again fails here), and say what the topology says: the counts, the timing, every
// variable a service reads, and no credential but references to the secrets.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse, parseAllDocuments } from 'yaml'
import { inRepo } from '../paths.js'
import { SERVICE_ROLES } from '../roles.js'
import { CHECKOUTS_PER_ORDER_REPLICA, PROFILES, SENTINEL_TIMING } from '../topology.js'
import { GRAFANA_PASSWORD } from './configs.js'
import { SECRET_KEYS } from './deployment.js'
import { EXPORT_TARGETS, exportedFiles } from './export.js'

const ha = PROFILES.ha
const committed = (path: string) => readFileSync(inRepo(path), 'utf8')

interface ComposeService {
  image: string
  environment?: Record<string, string>
  command?: string[]
}
const compose = parse(committed('deploy/docker-compose.yml')) as { services: Record<string, ComposeService> }

type Manifest = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> }
const manifests = (file: string) => parseAllDocuments(committed(`deploy/k8s/${file}`)).map((document) => document.toJS() as Manifest)
const k8s = ['infrastructure.yaml', 'services.yaml', 'gateway.yaml'].flatMap(manifests)
const ofKind = (kind: string) => k8s.filter((manifest) => manifest.kind === kind)
const named = (kind: string, name: string) => ofKind(kind).find((manifest) => manifest.metadata.name === name)!

/** What a service replica must be given: its identity, where everything is, the limits, and its credentials. */
const SERVICE_VARIABLES = [
  'SERVICE_NAME', 'INSTANCE_ID', 'HTTP_HOST', 'HTTP_PORT', 'KAFKA_BROKERS', 'KAFKA_REPLICATION_FACTOR', 'KAFKA_MIN_INSYNC',
  'REDIS_SENTINELS', 'REDIS_MASTER_NAME', 'REDIS_WAIT_REPLICAS', 'STOCK_URL', 'MAX_CHECKOUTS_IN_FLIGHT',
  'REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD',
]
/** Credentials platform/config.ts reads, as they are added there: every one must be exported too. */
const credentialsReadByConfig = [...readFileSync(inRepo('platform/config.ts'), 'utf8').matchAll(/\b(?:env\.|env, ')([A-Z_]*(?:PASSWORD|USERNAME|SASL)[A-Z_]*)/g)].map((match) => match[1]!)
const isCredential = (variable: string) => /PASSWORD|SECRET|TOKEN/.test(variable)

for (const target of EXPORT_TARGETS) {
  test(`the committed files are what \`export ${target}\` writes (else: npm run -s cluster -- export ${target})`, async () => {
    for (const [path, content] of Object.entries(await exportedFiles(target))) assert.equal(committed(path), content, `${path} is out of date`)
  })
}

test('compose runs the ha profile: 3 Kafka nodes, 3 Redis per group, 3 Sentinels, the replicas of each service, the gateway', () => {
  const named = (pattern: RegExp) => Object.keys(compose.services).filter((name) => pattern.test(name))
  assert.equal(named(/^kafka-\d$/).length, ha.kafkaNodes)
  for (const name of named(/^kafka-/)) assert.equal(compose.services[name]!.image, 'apache/kafka:4.1.1')
  for (const group of SERVICE_ROLES) assert.equal(named(new RegExp(`^redis-${group}-\\d$`)).length, ha.redisPerGroup)
  assert.equal(named(/^sentinel-\d$/).length, ha.sentinels)
  for (const role of SERVICE_ROLES) {
    const replicas = named(new RegExp(`^${role}-\\d$`))
    assert.equal(replicas.length, ha.replicas[role])
    for (const name of replicas) assert.deepEqual(compose.services[name]!.command, ['node', `dist/services/${role}/main.js`])
  }
  assert.equal(compose.services.gateway!.image, 'nginx:1.27')
})

test('every service replica gets every variable it needs, in compose and in Kubernetes', () => {
  for (const variable of credentialsReadByConfig) assert.ok(SERVICE_VARIABLES.includes(variable), `platform/config.ts reads ${variable}: export it`)
  for (const role of SERVICE_ROLES) {
    for (let instance = 1; instance <= ha.replicas[role]; instance++) {
      const environment = compose.services[`${role}-${instance}`]!.environment!
      for (const variable of SERVICE_VARIABLES) assert.ok(environment[variable], `compose ${role}-${instance} lacks ${variable}`)
      assert.equal(environment.INSTANCE_ID, `${role}-${instance}`)
      assert.equal(environment.HTTP_HOST, '0.0.0.0')
      assert.equal(environment.MAX_CHECKOUTS_IN_FLIGHT, String(2 * CHECKOUTS_PER_ORDER_REPLICA))
    }
    const deployment = named('Deployment', role)
    assert.equal(deployment.spec.replicas, ha.replicas[role])
    const [container] = deployment.spec.template.spec.containers
    const variables = (container.env as { name: string }[]).map((variable) => variable.name)
    for (const variable of SERVICE_VARIABLES) assert.ok(variables.includes(variable), `Deployment ${role} lacks ${variable}`)
    assert.equal(container.readinessProbe.httpGet.path, '/health')
  }
})

test('Kafka, Redis and Sentinel are configured as the topology says', () => {
  const kafka = committed('deploy/config/kafka.properties')
  for (const line of ['default.replication.factor=3', 'min.insync.replicas=2', 'controller.quorum.voters=1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093']) {
    assert.ok(kafka.split('\n').includes(line), line)
  }
  const sentinel = committed('deploy/config/sentinel.conf').split('\n')
  for (const group of SERVICE_ROLES) {
    assert.ok(sentinel.includes(`sentinel monitor ${group} redis-${group}-1 6380 ${SENTINEL_TIMING.quorum}`))
    assert.ok(sentinel.includes(`sentinel down-after-milliseconds ${group} ${SENTINEL_TIMING.downAfterMs}`))
    assert.ok(sentinel.includes(`sentinel failover-timeout ${group} ${SENTINEL_TIMING.failoverTimeoutMs}`))
  }
  const redis = committed('deploy/config/redis.conf').split('\n')
  assert.ok(redis.includes('min-replicas-to-write 1') && redis.includes('min-replicas-max-lag 5'))
  const statefulSets = Object.fromEntries(ofKind('StatefulSet').map((set) => [set.metadata.name, set.spec.replicas]))
  assert.deepEqual(statefulSets, { kafka: 3, 'redis-order': 3, 'redis-stock': 3, 'redis-payment': 3, sentinel: 3 })
  // Pods named as the launcher names its processes, each reachable under that name.
  for (const set of ofKind('StatefulSet')) {
    assert.deepEqual(set.spec.ordinals, { start: 1 })
    for (let pod = 1; pod <= set.spec.replicas; pod++) assert.ok(named('Service', `${set.metadata.name}-${pod}`), `no Service for pod ${set.metadata.name}-${pod}`)
  }
  for (const component of ['kafka', 'redis-order', 'redis-stock', 'redis-payment', 'sentinel', ...SERVICE_ROLES, 'gateway']) {
    assert.equal(named('PodDisruptionBudget', component)?.spec.maxUnavailable, 1, `a disruption budget for ${component}`)
  }
})

test("the gateway routes to the services' containers and lets in the topology's checkouts", () => {
  const limit = CHECKOUTS_PER_ORDER_REPLICA * ha.replicas.order
  const composeConf = committed('deploy/compose/nginx.conf')
  assert.match(composeConf, new RegExp(`limit_conn checkouts ${limit};`))
  for (const role of SERVICE_ROLES) {
    for (let instance = 1; instance <= ha.replicas[role]; instance++) assert.match(composeConf, new RegExp(`server ${role}-${instance}:\\d+ .*resolve;`))
  }
  const k8sConf = named('ConfigMap', 'gateway').data!['nginx.conf']!
  const gateways = named('Deployment', 'gateway').spec.replicas as number
  assert.match(k8sConf, new RegExp(`limit_conn checkouts ${Math.ceil(limit / gateways)};`))
  assert.match(k8sConf, /server order\.checkout\.svc\.cluster\.local:8101 .*resolve;/)
  for (const conf of [composeConf, k8sConf]) {
    const directives = conf.split('\n').filter((line) => !line.trim().startsWith('#')).join('\n')
    assert.match(directives, /^\s*listen 8000 /m, 'listens on every address')
    assert.doesNotMatch(directives, /\{\{|127\.0\.0\.1:/, 'every placeholder filled, nothing on the loopback')
  }
  assert.equal(named('Service', 'gateway').spec.type, 'LoadBalancer')
})

test('no credential is written anywhere: compose reads them from deploy/secrets.env, Kubernetes from its Secret', () => {
  const secrets = new Set<string>([...SECRET_KEYS, GRAFANA_PASSWORD])
  for (const [name, service] of Object.entries(compose.services)) {
    for (const [variable, value] of Object.entries(service.environment ?? {})) {
      const reference = /^\$\{([A-Z_]+):\?[^}]*\}$/.exec(value)
      if (isCredential(variable)) assert.ok(reference && secrets.has(reference[1]!), `${name}: ${variable} must be a reference to deploy/secrets.env`)
      else assert.ok(!reference, `${name}: ${variable} is no secret`)
    }
  }
  for (const manifest of [...ofKind('StatefulSet'), ...ofKind('Deployment')]) {
    for (const container of manifest.spec.template.spec.containers) {
      for (const variable of container.env as { name: string; value?: string; valueFrom?: { secretKeyRef?: { key: string } } }[]) {
        if (!isCredential(variable.name)) continue
        assert.equal(variable.value, undefined, `${manifest.metadata.name}: ${variable.name} has a value`)
        assert.ok(secrets.has(variable.valueFrom!.secretKeyRef!.key), `${manifest.metadata.name}: ${variable.name}`)
      }
    }
  }
  const [template] = manifests('secret.template.yaml')
  assert.deepEqual(Object.keys(template!.stringData!), [...SECRET_KEYS])
  assert.ok(Object.values(template!.stringData!).every((value) => value === 'FILL-IN'), 'placeholders only')
  const example = committed('deploy/secrets.env.example').split('\n').filter((line) => line && !line.startsWith('#'))
  assert.deepEqual(example, [...secrets].map((key) => `${key}=`), 'the example names every secret and gives none a value')
  assert.match(readFileSync(inRepo('.gitignore'), 'utf8'), /^deploy\/secrets\.env$/m)
})
