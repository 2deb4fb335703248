// A short, seeded pass of `npm run fuzz`: schemathesis (every check: no 5xx, answers as the spec says,
// invalid input refused, links followed) against a default cluster the fuzz tool starts and stops,
// then its audit that refused requests changed nothing.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { inRepo } from '../../tools/cluster/paths.js'

const TIME_LIMIT_MS = 8 * 60_000

test('schemathesis finds nothing, and the fuzzed requests changed only what their 2xx answers say', async () => {
  const out = mkdtempSync(join(tmpdir(), 'fuzz-'))
  const args = [inRepo('dist/tools/fuzz/main.js'), '--max-examples', '5', '--seed', '1', '--out', out]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  // The fuzz tool stops its cluster on SIGTERM; past the limit, end it that way.
  const limit = setTimeout(() => child.kill('SIGTERM'), TIME_LIMIT_MS)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(limit)

  assert.equal(code, 0, output.slice(-4000))
  const audit = /audit: (\d+) recorded requests, (\d+) answered 5xx; created (\d+) items, (\d+) users, (\d+) orders; .*; (\d+) mismatches/.exec(output)
  assert.ok(audit, output.slice(-2000))
  const [requests, serverErrors, items, users, orders, mismatches] = audit.slice(1).map(Number)
  assert.ok(requests! >= 100, `${requests} requests`)
  assert.equal(serverErrors, 0)
  assert.ok(items! > 0 && users! > 0 && orders! > 0, 'the links were followed: entities created and used')
  assert.equal(mismatches, 0)
})
