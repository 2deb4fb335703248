// The deployment manifests (deploy/) checked offline, as far as no container engine is needed: the
// Compose file against the Compose Specification's JSON schema, the Kubernetes manifests against the
// API's schemas (strictly: an unknown field fails), the container scripts with shellcheck, Prometheus's
// configuration with promtool, and the Kafka node configuration kafka.sh writes through Kafka's own
// validation (formatting a storage with it).
// Each validator is also shown a broken copy, which it must refuse: a validator that passes everything
// would make these tests pass for nothing. The validators are the pinned ones of tools/setup.sh.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { promisify } from 'node:util'
import { inRepo } from '../../tools/cluster/paths.js'

/** The validators tools/setup.sh installs, pinned (tools/cluster/export/requirements.txt). */
const venv = (tool: string) => inRepo(`.venv/validate/bin/${tool}`)
const scratch = mkdtempSync(join(tmpdir(), 'manifests-'))
after(() => rmSync(scratch, { recursive: true, force: true }))
/** A copy of a committed file with one change, in a scratch folder. */
function brokenCopy(path: string, from: string | RegExp, to: string): string {
  const text = readFileSync(inRepo(path), 'utf8')
  const broken = text.replace(from, to)
  assert.notEqual(broken, text, `the change to ${path} applies`)
  const copy = join(scratch, path.replaceAll('/', '_'))
  writeFileSync(copy, broken)
  return copy
}

interface Run {
  code: number
  output: string
}
async function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return promisify(execFile)(command, args, { env, maxBuffer: 16 << 20 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  )
}

const K8S_MANIFESTS = ['namespace.yaml', 'infrastructure.yaml', 'services.yaml', 'gateway.yaml', 'secret.template.yaml'].map((file) => inRepo(`deploy/k8s/${file}`))
/** 1.31 is the first release with StatefulSet start ordinals on by default and stable; 1.37 the newest the validator knows. */
const KUBERNETES_VERSIONS = ['1.31', '1.37']

test('docker-compose.yml follows the Compose Specification', async () => {
  const check = (file: string) => run(venv('check-jsonschema'), ['--builtin-schema', 'vendor.compose-spec', file])
  const valid = await check(inRepo('deploy/docker-compose.yml'))
  assert.equal(valid.code, 0, valid.output)
  const broken = await check(brokenCopy('deploy/docker-compose.yml', /\n {4}restart: unless-stopped/, '\n    restart: unless-stopped\n    replicas: three'))
  assert.notEqual(broken.code, 0, 'an unknown key of a service is refused')
  assert.match(broken.output, /replicas/)
})

for (const version of KUBERNETES_VERSIONS) {
  test(`the Kubernetes manifests follow the API of Kubernetes ${version}, strictly`, async () => {
    const validate = (files: string[]) => run(venv('kubernetes-validate'), ['--strict', '--quiet', '--kubernetes-version', version, ...files])
    const valid = await validate(K8S_MANIFESTS)
    assert.equal(valid.code, 0, valid.output)
    const typo = await validate([brokenCopy('deploy/k8s/infrastructure.yaml', 'podManagementPolicy: Parallel', 'podManagementPolicy: Parallel\n  podManagmentPolicy: Parallel')])
    assert.notEqual(typo.code, 0, 'a misspelt field is refused')
    assert.match(typo.output, /podManagmentPolicy/)
    const wrongType = await validate([brokenCopy('deploy/k8s/services.yaml', 'replicas: 3', 'replicas: three')])
    assert.notEqual(wrongType.code, 0, 'a count that is no number is refused')
  })
}

test('kustomization.yaml builds (kubectl kustomize), when kubectl is installed', async (t) => {
  if ((await run('kubectl', ['version', '--client'])).code !== 0) return t.skip('no kubectl on this machine')
  const built = await run('kubectl', ['kustomize', inRepo('deploy/k8s')])
  assert.equal(built.code, 0, built.output)
  const kinds = [...built.output.matchAll(/^kind: (\w+)$/gm)].map((match) => match[1])
  assert.ok(kinds.includes('Namespace') && kinds.includes('StatefulSet') && !kinds.includes('Secret'), kinds.join(' '))
})

test("the observe profile's Prometheus configuration passes promtool", async () => {
  const valid = await run('promtool', ['check', 'config', inRepo('deploy/compose/prometheus.yml')])
  assert.equal(valid.code, 0, valid.output)
  const broken = await run('promtool', ['check', 'config', brokenCopy('deploy/compose/prometheus.yml', 'scrape_interval: 5s', 'scrape_interval: often')])
  assert.notEqual(broken.code, 0, 'a duration that is none is refused')
})

test('the container scripts pass shellcheck', async () => {
  const scripts = ['kafka.sh', 'redis.sh', 'sentinel.sh'].map((file) => inRepo(`deploy/scripts/${file}`))
  const checked = await run('shellcheck', scripts)
  assert.equal(checked.code, 0, checked.output)
  const broken = await run('shellcheck', [brokenCopy('deploy/scripts/redis.sh', '-p "$REDIS_PORT" INFO', '-p $REDIS_PORT INFO')])
  assert.notEqual(broken.code, 0, 'an unquoted expansion is reported')
})

test("the configuration kafka.sh writes is a valid KRaft node's (Kafka formats a storage with it)", async () => {
  // kafka.sh as in the image, its Kafka being the broker jars tools/setup.sh fetched: formatting checks
  // the configuration the broker would start with (listeners, SASL, quorum) and adds the SCRAM users.
  const kafkaHome = join(scratch, 'kafka')
  mkdirSync(join(kafkaHome, 'bin'), { recursive: true })
  mkdirSync(join(kafkaHome, 'config'))
  const storageTool = join(kafkaHome, 'bin', 'kafka-storage.sh')
  writeFileSync(storageTool, `#!/bin/sh\nexec java -cp '${inRepo('kafka/lib')}/*' -Dlog4j2.configurationFile=${inRepo('kafka/log4j2.xml')} kafka.tools.StorageTool "$@"\n`)
  const serverStart = join(kafkaHome, 'bin', 'kafka-server-start.sh')
  writeFileSync(serverStart, '#!/bin/sh\necho "would start with $1"\n')
  for (const tool of [storageTool, serverStart]) chmodSync(tool, 0o755)
  const configDir = join(scratch, 'config')
  mkdirSync(configDir)
  const formatWith = async (properties: string) => {
    const dataDir = mkdtempSync(join(scratch, 'data-'))
    writeFileSync(join(configDir, 'kafka.properties'), properties.replace(/^log\.dirs=.*$/m, `log.dirs=${dataDir}`))
    const env = {
      ...process.env,
      KAFKA_HOME: kafkaHome,
      CHECKOUT_CONFIG_DIR: configDir,
      HOSTNAME: 'kafka-2',
      KAFKA_BROKER_PORT: '9092',
      KAFKA_CLUSTER_ID: 'Y2hlY2tvdXQtc3lzdGVtAA',
      KAFKA_CLIENT_USERS: 'order stock payment',
      KAFKA_BROKER_PASSWORD: 'broker-test-password',
      KAFKA_CONTROLLER_PASSWORD: 'controller-test-password',
      ORDER_KAFKA_PASSWORD: 'order-test-password',
      STOCK_KAFKA_PASSWORD: 'stock-test-password',
      PAYMENT_KAFKA_PASSWORD: 'payment-test-password',
    }
    return { ...(await run('bash', [inRepo('deploy/scripts/kafka.sh')], env)), dataDir }
  }
  const properties = readFileSync(inRepo('deploy/config/kafka.properties'), 'utf8')
  const formatted = await formatWith(properties)
  assert.equal(formatted.code, 0, formatted.output)
  assert.match(formatted.output, /would start with/)
  assert.match(readFileSync(join(formatted.dataDir, 'meta.properties'), 'utf8'), /node\.id=2/)
  const written = readFileSync(join(kafkaHome, 'config', 'checkout.properties'), 'utf8')
  assert.match(written, /^advertised\.listeners=BROKER:\/\/kafka-2:9092$/m)
  const broken = await formatWith(properties.replace('inter.broker.listener.name=BROKER', 'inter.broker.listener.name=BROKERS'))
  assert.notEqual(broken.code, 0, 'a listener that does not exist is refused')
  assert.match(broken.output, /BROKERS/)
})
