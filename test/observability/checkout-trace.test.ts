// One checkout is one trace: the default cluster, configured only by the standard OTEL_* variables,
// exports spans from order (which runs the saga), stock and payment under the trace id the client started,
// to a real OTLP/HTTP (JSON) endpoint run by this test; and the order service's /metrics counts it.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, test } from 'node:test'
import { startCluster, type Cluster } from '../../tools/cluster/cluster.js'
import { CheckoutApi } from '../../tools/client/api.js'

interface ReceivedSpan {
  service: string
  traceId: string
  name: string
  attributes: Record<string, unknown>
}

/** A minimal OTLP/HTTP trace receiver: POST /v1/traces with a JSON ExportTraceServiceRequest. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = []
  readonly #server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/v1/traces') this.#collect(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      response.writeHead(request.url === '/v1/traces' ? 200 : 404, { 'content-type': 'application/json' }).end('{}')
    })
  })

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  #collect(body: OtlpTraces): void {
    for (const { resource, scopeSpans } of body.resourceSpans ?? []) {
      const service = String(valueOf(resource?.attributes?.find((a) => a.key === 'service.name')?.value))
      for (const { spans } of scopeSpans ?? []) {
        for (const span of spans ?? []) {
          const attributes = Object.fromEntries((span.attributes ?? []).map((a) => [a.key, valueOf(a.value)]))
          this.spans.push({ service, traceId: span.traceId, name: span.name, attributes })
        }
      }
    }
  }
}

interface OtlpValue {
  stringValue?: string
  intValue?: string | number
  arrayValue?: { values?: OtlpValue[] }
}
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] }
    scopeSpans?: { spans?: { traceId: string; name: string; attributes?: { key: string; value: OtlpValue }[] }[] }[]
  }[]
}

function valueOf(value: OtlpValue | undefined): unknown {
  if (!value) return undefined
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf)
  return value.stringValue ?? value.intValue
}

const receiver = new OtlpReceiver()
const OTEL_SETTINGS = ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_BSP_SCHEDULE_DELAY'] as const
const savedEnv = Object.fromEntries(OTEL_SETTINGS.map((name) => [name, process.env[name]]))
let cluster: Cluster
let api: CheckoutApi

before(async () => {
  const endpoint = await receiver.listen()
  // The launcher hands its own environment to the processes it starts (and restarts).
  Object.assign(process.env, {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '200',
  })
  cluster = await startCluster({ profile: 'default', ports: 'free' })
  api = new CheckoutApi(cluster.gatewayUrl)
})

after(async () => {
  api?.close()
  await cluster?.stop()
  await receiver.close()
  for (const name of OTEL_SETTINGS) {
    if (savedEnv[name] === undefined) delete process.env[name]
    else process.env[name] = savedEnv[name]
  }
})

test('a checkout is one trace across order, stock and payment, and is counted on /metrics', { timeout: 60_000 }, async () => {
  const item = await api.createItem(3)
  await api.addStock(item, 5)
  const user = await api.createUser()
  await api.addFunds(user, 10)
  const order = await api.createOrder(user)
  await api.addItem(order, item, 2)

  // The client starts the trace; every service must continue it.
  const traceId = randomBytes(16).toString('hex')
  const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`
  const checkout = await api.request('POST', `/orders/checkout/${order}`, { traceparent })
  assert.equal(checkout.status, 200, JSON.stringify(checkout.body))

  const services = ['order', 'stock', 'payment']
  const inTrace = () => receiver.spans.filter((span) => span.traceId === traceId)
  for (let waited = 0; waited < 20_000 && !services.every((s) => inTrace().some((span) => span.service === s)); waited += 200) await sleep(200)
  const spans = inTrace()
  assert.deepEqual([...new Set(spans.map((span) => span.service))].sort(), [...services].sort(), `services in the trace: ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`)

  const server = spans.find((span) => span.service === 'order' && span.name === 'POST /orders/checkout/:orderId')
  assert.ok(server, 'the order service has the HTTP server span')
  assert.equal(server.attributes['http.response.status_code'], 200)
  assert.equal((server.attributes['http.request.header.x-request-id'] as string[]).length, 1, 'the gateway request id is recorded')
  const names = new Set(spans.map((span) => `${span.service}:${span.name}`))
  for (const expected of [
    'order:redis begin-checkout',
    'order:publish stock.commands',
    'stock:process stock.commands',
    'stock:redis take-counters',
    'order:process checkout.saga',
    'order:saga forward charge-payment',
    'order:publish payment.commands',
    'payment:process payment.commands',
    'order:saga done',
    'order:redis finish-checkout',
  ]) {
    assert.ok(names.has(expected), `span ${expected} in ${[...names].join(', ')}`)
  }

  const orderService = cluster.processes.find((process) => process.name === 'order-1')!
  const metrics = await (await fetch(`http://127.0.0.1:${orderService.port}/metrics`)).text()
  assert.match(metrics, /^http_requests_total\{method="POST",route="\/orders\/checkout\/:orderId",status="200"\} 1$/m)
  assert.match(metrics, /^http_request_duration_seconds_count\{method="POST",route="\/orders\/checkout\/:orderId",status="200"\} 1$/m)
  assert.match(metrics, /^saga_outcomes_total\{outcome="paid"\} 1$/m)
  assert.match(metrics, /^saga_step_duration_seconds_count\{step="forward reserve-stock"\} 1$/m)
})
