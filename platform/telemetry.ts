// Tracing with the OpenTelemetry SDK, configured by the standard OTEL_* environment variables, and the
// few span helpers used at the choke points (HTTP routes, Kafka publisher, consumer loop, Redis scripts,
// saga transitions). Span names and attribute keys are listed here once.
//
// When nothing asks for traces (OTEL_TRACES_EXPORTER unset or "none", and no OTLP endpoint), the SDK is
// not even loaded: the API's no-op stays in place and the hot paths check `tracing()` once per message
// or request, so they create no spans and no headers.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter } from '@opentelemetry/api'
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions'
import type { AnyMessage } from './messages.js'

export { context, SpanKind, type Context, type Span }

/** Attribute keys: semantic conventions where they exist, our own ids otherwise. */
export const Attr = {
  httpMethod: ATTR_HTTP_REQUEST_METHOD,
  httpRoute: ATTR_HTTP_ROUTE,
  httpStatus: ATTR_HTTP_RESPONSE_STATUS_CODE,
  urlPath: ATTR_URL_PATH,
  /** The gateway's X-Request-Id (semantic convention for a captured request header: a string array). */
  requestId: 'http.request.header.x-request-id',
  messagingSystem: 'messaging.system',
  messagingOperation: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  offset: 'messaging.kafka.offset',
  messageKey: 'messaging.kafka.message.key',
  dbSystem: 'db.system.name',
  dbOperation: 'db.operation.name',
  redisScript: 'db.redis.script',
  messageType: 'message.type',
  sagaId: 'saga.id',
  orderId: 'order.id',
  sagaStep: 'saga.step',
  sagaReply: 'saga.reply',
} as const

/** Span names, in one place. */
export const SpanName = {
  http: (method: string, route: string) => `${method} ${route}`,
  publish: (topic: string) => `publish ${topic}`,
  process: (topic: string) => `process ${topic}`,
  redis: (operation: string) => `redis ${operation}`,
  sagaStep: (step: string) => `saga ${step}`,
} as const

const tracer = trace.getTracer('checkout-system')
let enabled = false

/** Whether spans are being recorded in this process: the one flag the hot paths check. */
export function tracing(): boolean {
  return enabled
}

type ExporterName = 'otlp' | 'console'

/** Which exporters the environment asks for; none means tracing stays off. */
export function chosenExporters(env: Record<string, string | undefined>): ExporterName[] {
  const named = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim()).filter(Boolean)
  if (named.length === 0) return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? ['otlp'] : []
  if (named.includes('none')) return []
  for (const name of named) if (name !== 'otlp' && name !== 'console') throw new Error(`OTEL_TRACES_EXPORTER must be otlp, console or none (got ${name})`)
  return named as ExporterName[]
}

/** The OTLP protocol the environment asks for (the specification's default is http/protobuf). */
export function otlpProtocol(env: Record<string, string | undefined>): 'http/json' | 'http/protobuf' {
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf'
  if (protocol === 'http/json' || protocol === 'http/protobuf') return protocol
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/json or http/protobuf (got ${protocol}; grpc is not bundled)`)
}

/**
 * Installs the tracer provider (W3C trace context, batched export) when the environment asks for it.
 * Returns what flushes and stops it. The exporters read their endpoint, headers and timeouts, and the
 * batch processor its OTEL_BSP_* settings, from process.env themselves.
 */
export async function startTracing(serviceName: string, instanceId: string): Promise<() => Promise<void>> {
  const exporters = chosenExporters(process.env)
  if (exporters.length === 0 || enabled) return async () => {}
  const [{ NodeTracerProvider, BatchSpanProcessor, ConsoleSpanExporter }, { resourceFromAttributes, defaultResource }, { W3CTraceContextPropagator }] =
    await Promise.all([import('@opentelemetry/sdk-trace-node'), import('@opentelemetry/resources'), import('@opentelemetry/core')])
  const spanProcessors = []
  for (const name of exporters) {
    const exporter = name === 'console' ? new ConsoleSpanExporter() : await otlpExporter(otlpProtocol(process.env))
    spanProcessors.push(new BatchSpanProcessor(exporter))
  }
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, 'service.instance.id': instanceId })),
    spanProcessors,
  })
  provider.register({ propagator: new W3CTraceContextPropagator() })
  enabled = true
  return async () => {
    enabled = false
    await provider.shutdown().catch(() => undefined)
  }
}

async function otlpExporter(protocol: 'http/json' | 'http/protobuf') {
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
}

/** The ids of a message, as span attributes. */
export function messageAttributes(message: AnyMessage): Attributes {
  return { [Attr.messageType]: message.type, [Attr.sagaId]: message.sagaId, [Attr.orderId]: message.orderId }
}

/** Starts a span as a child of `parent` (default: the active context) and returns it with its context. */
export function startSpan(name: string, kind: SpanKind, attributes: Attributes, parent: Context = context.active()): { span: Span; context: Context } {
  const span = tracer.startSpan(name, { kind, attributes }, parent)
  return { span, context: trace.setSpan(parent, span) }
}

/** Ends a span, marking it failed when `error` is given. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error))
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
  }
  span.end()
}

/** Runs `work` inside a new child span of the active context. Only call it when tracing() is on. */
export async function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  const started = startSpan(name, kind, attributes)
  try {
    const result = await context.with(started.context, work)
    endSpan(started.span)
    return result
  } catch (err) {
    endSpan(started.span, err)
    throw err
  }
}

/** The W3C trace-context headers that continue `parent` in another process. */
export function traceHeaders(parent: Context): Record<string, string> {
  const headers: Record<string, string> = {}
  propagation.inject(parent, headers)
  return headers
}

const mapGetter: TextMapGetter<Map<string, string>> = {
  get: (carrier, key) => carrier.get(key),
  keys: (carrier) => [...carrier.keys()],
}

/** The context carried by a consumed Kafka message's headers (a new trace when it carries none). */
export function contextFromKafkaHeaders(headers: Map<string, string> | undefined): Context {
  return headers && headers.size > 0 ? propagation.extract(ROOT_CONTEXT, headers, mapGetter) : ROOT_CONTEXT
}

/** The context carried by an HTTP request's `traceparent` header (a new trace when absent). */
export function contextFromHttpHeaders(headers: Record<string, string | string[] | undefined>): Context {
  return headers.traceparent ? propagation.extract(ROOT_CONTEXT, headers) : ROOT_CONTEXT
}

/** The ids of the active span, for log lines written inside one. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan()
  if (!span) return undefined
  const { traceId, spanId } = span.spanContext()
  return { trace_id: traceId, span_id: spanId }
}
