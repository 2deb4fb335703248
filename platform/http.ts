// HTTP bootstrap shared by the services: JSON everywhere, coded errors to status codes, strict parsing
// of path parameters, 405 for a known path with the wrong method, and the request's idempotency key.
// Every request is counted and timed by route pattern and status; when tracing, each request to a
// service route is a server span (health checks and metric scrapes are not: they would bury the traces).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteHandlerMethod } from 'fastify'
import { AppError } from './errors.js'
import type { Logger } from './logger.js'
import { metrics } from './metrics.js'
import { Attr, context, contextFromHttpHeaders, endSpan, SpanKind, SpanName, startSpan, tracing, type Context, type Span } from './telemetry.js'

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const
type Method = (typeof HTTP_METHODS)[number]

/**
 * @param deadlineMs every route registered with route() answers within this long of a request's arrival
 * (503 if its work is not done: see withinDeadline), so that the gateway can give up on a replica that
 * has not answered a little later, and try the next: it is cut off or frozen.
 */
export function createHttpApp(logger: Logger, deadlineMs?: number): FastifyInstance {
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 200 }, keepAliveTimeout: 75_000, return503OnClosing: true })
  // No route reads a body: accept any content type (aiohttp, used by the WDM benchmark, sends
  // application/octet-stream on an empty POST) and ignore what comes.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined))
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, not the URL: one series per route, whatever the ids in the path.
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode }
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
    const traced = requestTraces.get(request)
    if (traced) {
      traced.span.setAttribute(Attr.httpStatus, reply.statusCode)
      endSpan(traced.span, reply.statusCode >= 500 ? `HTTP ${reply.statusCode}` : undefined)
    }
    done()
  })
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof AppError) return reply.code(err.status).send({ error: err.message, code: err.code })
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message })
    // An infrastructure fault (Redis or Kafka unreachable past the client's retries). 503 lets the
    // gateway retry on another replica with the same request id, which every mutation applies once.
    logger.error({ err: err.message, stack: err.stack, method: request.method, url: request.url, requestId: request.headers['x-request-id'] }, 'request failed')
    return reply.code(503).send({ error: `temporarily unavailable: ${err.message}` })
  })
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` }))
  if (deadlineMs !== undefined) deadlines.set(app, deadlineMs)
  return app
}

const deadlines = new WeakMap<FastifyInstance, number>()

/**
 * The handler's answer, or 503 once deadlineMs have passed: a Redis command waiting out its timeout,
 * then a WAIT for the replicas, then a saga slowed by a failover can each take seconds, and a replica
 * that answers nothing for that long cannot be told from one that is cut off. The work goes on; the
 * gateway's retry (same request id) is applied once and finds what it did.
 */
function withinDeadline(deadlineMs: number, handler: RouteHandlerMethod): RouteHandlerMethod {
  return function (this: FastifyInstance, request, reply) {
    // A handler that throws at once rejects `work`, and the timer is cleared all the same.
    const work = new Promise((resolve) => resolve(handler.call(this, request, reply)))
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new AppError('UNAVAILABLE', `not done within ${deadlineMs / 1000} s (a failover or a partition slows Redis, Kafka or the saga): retry with the same Idempotency-Key`)),
        deadlineMs,
      )
    })
    return Promise.race([work, late]).finally(() => clearTimeout(timer))
  }
}

/** The server span of each request in flight (only when tracing). */
const requestTraces = new WeakMap<FastifyRequest, { span: Span; context: Context }>()

/**
 * Runs a route's handler inside a server span that continues the caller's trace (W3C traceparent) if it
 * sent one, so the spans it causes (Redis, Kafka) are its children. The span ends in the onResponse hook.
 */
function inRequestSpan(route: string, handler: RouteHandlerMethod): RouteHandlerMethod {
  return function (this: FastifyInstance, request, reply) {
    const requestId = request.headers['x-request-id']
    const attributes = {
      [Attr.httpMethod]: request.method,
      [Attr.httpRoute]: route,
      [Attr.urlPath]: request.url.split('?')[0],
      ...(typeof requestId === 'string' ? { [Attr.requestId]: [requestId] } : {}),
    }
    const traced = startSpan(SpanName.http(request.method, route), SpanKind.SERVER, attributes, contextFromHttpHeaders(request.headers))
    requestTraces.set(request, traced)
    return context.with(traced.context, handler, this, request, reply)
  }
}

/** What every route registered with route() checks first: a reason to refuse the request, or undefined. */
export type RouteGuard = () => AppError | undefined
const guards = new WeakMap<FastifyInstance, RouteGuard>()

/**
 * Sets the app's guard, for the routes registered after. Checked in the handler rather than by an
 * onRequest hook, which sends every request through Fastify's hook runner: the hook measured 3-16 %
 * more CPU per checkout in three noisy pairs, the guard nothing (docs/BENCHMARKS.md).
 */
export function guardRoutes(app: FastifyInstance, guard: RouteGuard): void {
  guards.set(app, guard)
}

/** What every GET route registered with route() awaits first: a reason to refuse the read, or undefined. */
export type ReadGuard = () => Promise<AppError | undefined>
const readGuards = new WeakMap<FastifyInstance, ReadGuard>()

/** Sets the app's read guard, for the GET routes registered after (the reads of the stores). */
export function guardReads(app: FastifyInstance, guard: ReadGuard): void {
  readGuards.set(app, guard)
}

function readGuarded(guard: ReadGuard | undefined, handler: RouteHandlerMethod): RouteHandlerMethod {
  if (!guard) return handler
  return async function (this: FastifyInstance, request, reply) {
    const refusal = await guard()
    if (refusal) throw refusal
    return handler.call(this, request, reply)
  }
}

function guarded(guard: RouteGuard | undefined, handler: RouteHandlerMethod): RouteHandlerMethod {
  if (!guard) return handler
  return function (this: FastifyInstance, request, reply) {
    const refusal = guard()
    if (refusal) throw refusal
    return handler.call(this, request, reply)
  }
}

/**
 * Registers a route (behind the app's guard, a GET also behind its read guard, and answering within the
 * app's deadline unless `unbounded`: a bulk load), and answers 405 for the other methods on the same path.
 */
export function route(app: FastifyInstance, method: Method, url: string, handler: RouteHandlerMethod, { unbounded = false } = {}): void {
  const deadlineMs = unbounded ? undefined : deadlines.get(app)
  const read = method === 'GET' ? readGuarded(readGuards.get(app), handler) : handler
  const checked = guarded(guards.get(app), deadlineMs === undefined ? read : withinDeadline(deadlineMs, read))
  app.route({ method, url, handler: tracing() ? inRequestSpan(url, checked) : checked })
  const others = HTTP_METHODS.filter((m) => m !== method)
  app.route({
    method: others,
    url,
    handler: (_request: FastifyRequest, reply: FastifyReply) => reply.code(405).header('allow', method).send({ error: `use ${method}` }),
  })
}

const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/
const NUMBER_PATTERN = /^\d{1,16}$/

export function parseId(value: string | undefined, what: string): string {
  if (value === undefined || !ID_PATTERN.test(value)) throw new AppError('BAD_INPUT', `${what} must be 1-128 characters of [A-Za-z0-9_.:-]`)
  return value
}

/** A non-negative integer small enough to stay exact everywhere (JavaScript numbers, Redis Lua). */
export function parseAmount(value: string | undefined, what: string): number {
  const n = value !== undefined && NUMBER_PATTERN.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n)) throw new AppError('BAD_INPUT', `${what} must be a non-negative integer below 2^53`)
  return n
}

export type Params = Record<string, string>

const MAX_BATCH = 1_000_000

export function parseBatchSize(value: string | undefined): number {
  const n = parseAmount(value, 'n')
  if (n > MAX_BATCH) throw new AppError('BAD_INPUT', `n must be at most ${MAX_BATCH}`)
  return n
}
