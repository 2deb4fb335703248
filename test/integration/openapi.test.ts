// docs/openapi.yaml is the contract: it must name exactly the routes the services serve, with their
// methods and path parameters (no cluster needed: the routes are registered on bare Fastify apps).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse } from 'yaml'
import { createHttpApp } from '../../platform/http.js'
import { createLogger } from '../../platform/logger.js'
import type { ServiceContext } from '../../platform/service.js'
import { orderRoutes } from '../../services/order/routes.js'
import { paymentRoutes } from '../../services/payment/routes.js'
import { stockRoutes } from '../../services/stock/routes.js'
import { inRepo } from '../../tools/cluster/paths.js'

interface Spec {
  openapi: string
  paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>
}

const spec = parse(readFileSync(inRepo('docs/openapi.yaml'), 'utf8')) as Spec

/** "METHOD /path/{param}" of every route the services register (the 405 catch-alls left out). */
function servedRoutes(): string[] {
  const routes: string[] = []
  const app = createHttpApp(createLogger('order', 'openapi-test', 'silent'))
  app.addHook('onRoute', ({ method, url }) => {
    // HEAD routes are Fastify's implicit twins of GET ones.
    if (typeof method === 'string' && method !== 'HEAD') routes.push(`${method} ${url.replace(/:(\w+)/g, (_, name: string) => `{${snake(name)}}`)}`)
  })
  const none = {} as never
  orderRoutes(app, none, none as ServiceContext)
  stockRoutes(app, none)
  paymentRoutes(app, none)
  return routes.sort()
}

/** The services name path parameters in camelCase, the contract (the WDM API) in snake_case. */
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

test('the OpenAPI document is 3.1 and describes exactly the routes served', () => {
  assert.equal(spec.openapi, '3.1.0')
  const documented = Object.entries(spec.paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort()
  assert.deepEqual(documented, servedRoutes())
})

test('every path parameter is described', () => {
  for (const [path, operations] of Object.entries(spec.paths)) {
    const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
    for (const [method, operation] of Object.entries(operations)) {
      const described = (operation.parameters ?? []).filter((p) => 'in' in p && p.in === 'path').map((p) => p.name).sort()
      assert.deepEqual(described, inPath, `${method} ${path}`)
    }
  }
})

test('no value of the document was split by YAML (a comma in an unquoted flow-style value makes a new key)', () => {
  const nulls: string[] = []
  const walk = (value: unknown, path: string) => {
    if (value === null) nulls.push(path)
    else if (typeof value === 'object') for (const [key, child] of Object.entries(value)) walk(child, `${path}/${key}`)
  }
  walk(spec, '')
  assert.deepEqual(nulls, [])
})
