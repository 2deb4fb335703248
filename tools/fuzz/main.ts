// npm run fuzz: schemathesis, an independent property-based API tester (PyPI, pinned in
// tools/fuzz/requirements.txt, installed by tools/setup.sh into .venv/fuzz), against the gateway's
// /openapi.json: every check it has (no 5xx; status codes, content types, headers and bodies as the
// spec says; invalid input refused with a 4xx; valid input accepted; the links between operations
// followed statefully). Then the audit: refused requests changed nothing (audit.ts).
// Starts the default profile on free ports and stops it after, unless --url names a running gateway.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { CheckoutApi } from '../client/api.js'
import { startCluster, type Cluster } from '../cluster/cluster.js'
import { repoRoot } from '../cluster/paths.js'
import { ShopModel, type Exchange } from './audit.js'

const { values: options } = parseArgs({
  options: {
    url: { type: 'string' },
    'max-examples': { type: 'string', default: '50' },
    seed: { type: 'string' },
    out: { type: 'string' },
  },
})

const schemathesis = join(repoRoot, '.venv', 'fuzz', 'bin', 'schemathesis')
const configFile = join(repoRoot, 'tools', 'fuzz', 'schemathesis.toml')

async function main(): Promise<number> {
  if (!existsSync(schemathesis)) throw new Error(`${schemathesis} is missing: run bash tools/setup.sh`)
  const out = options.out ?? join(repoRoot, 'results', `fuzz-${new Date().toISOString().replace(/[:.]/g, '-')}`)
  mkdirSync(out, { recursive: true })
  let cluster: Cluster | undefined
  if (!options.url) {
    log('starting the default profile on free ports')
    cluster = await startCluster({ profile: 'default', ports: 'free', runDir: join(out, 'run') })
    const stop = () => void cluster!.stop().finally(() => process.exit(130))
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }
  const url = options.url ?? cluster!.gatewayUrl
  try {
    const args = ['--config-file', configFile, 'run', `${url}/openapi.json`, '--url', url, '--max-examples', options['max-examples']!]
    args.push('--report', 'vcr', '--report-dir', out)
    if (options.seed) args.push('--seed', options.seed)
    log(`schemathesis ${args.join(' ')}`)
    const fuzzerStatus = await run(schemathesis, args, out)

    const exchanges = readCassette(out)
    const model = new ShopModel()
    for (const exchange of exchanges) model.apply(exchange)
    await model.compareWith(new CheckoutApi(url))
    const { created, effects, mismatches } = model.result()
    const serverErrors = exchanges.filter((e) => e.status >= 500).length
    console.log(
      `\naudit: ${exchanges.length} recorded requests, ${serverErrors} answered 5xx; created ${created.items} items, ${created.users} users, ${created.orders} orders; ` +
        `2xx with an effect: ${[...effects].map(([route, n]) => `${route} ${n}`).join(', ') || 'none'}; ${mismatches.length} mismatches`,
    )
    for (const mismatch of mismatches.slice(0, 20)) console.log(`  mismatch: ${mismatch}`)
    log(`results in ${out}`)
    return fuzzerStatus === 0 && mismatches.length === 0 && serverErrors === 0 ? 0 : 1
  } finally {
    await cluster?.stop()
  }
}

/** Every exchange of the VCR cassette schemathesis wrote, in the order they were sent. */
function readCassette(dir: string): Exchange[] {
  const file = readdirSync(dir).find((name) => name.endsWith('.yaml'))
  if (!file) throw new Error(`no cassette in ${dir}`)
  const cassette = parseYaml(readFileSync(join(dir, file), 'utf8')) as { http_interactions?: Interaction[] }
  return (cassette.http_interactions ?? [])
    .filter((i) => i.response?.status?.code !== undefined)
    .sort((a, b) => Date.parse(a.recorded_at) - Date.parse(b.recorded_at))
    .map((i) => {
      const { pathname } = new URL(i.request.uri)
      const key = header(i.request.headers, 'idempotency-key')
      let body: unknown
      try {
        body = JSON.parse(i.response!.body?.string ?? '')
      } catch {
        body = undefined
      }
      return {
        method: i.request.method.toUpperCase(),
        path: pathname.split('/').map(safeDecode).join('/'),
        idempotencyKey: key === undefined || key === '' ? undefined : key,
        status: i.response!.status!.code,
        body,
      }
    })
}

interface Interaction {
  recorded_at: string
  request: { uri: string; method: string; headers?: Record<string, string[] | string> }
  response?: { status?: { code: number }; body?: { string?: string } }
}

function header(headers: Interaction['request']['headers'], name: string): string | undefined {
  const entry = Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === name)
  return Array.isArray(entry?.[1]) ? entry[1][0] : entry?.[1]
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** Runs in `cwd`: schemathesis keeps a cache folder (.schemathesis) where it runs. */
function run(command: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: 'inherit', env: { ...process.env, SCHEMATHESIS_HOOKS: '' } })
    child.on('error', reject)
    child.on('exit', (code) => resolve(code ?? 1))
  })
}

function log(line: string): void {
  console.error(`fuzz: ${line}`)
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
