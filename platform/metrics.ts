// Prometheus metrics of a service process, every name listed here once. Served as text on /metrics of
// the service's own HTTP port (see service.ts). Labels are static patterns (route templates, topics,
// step names, message types), never raw URLs or ids, so the number of series stays small and fixed.
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

export const registry = new Registry()
// Process CPU, memory, event-loop delay and GC, measured on scrape.
collectDefaultMetrics({ register: registry })

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export const metrics = {
  httpRequests: new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  }),
  httpDuration: new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to answering it, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  sagaOutcomes: new Counter({
    name: 'saga_outcomes_total',
    help: 'Checkout sagas this order replica finished: outcome "paid" or the refusal reason',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  lostSagaCompensations: new Counter({
    name: 'lost_saga_compensations_total',
    help: 'Compensations sent for a participant success reply whose saga the order service does not know (its start was lost with a Redis failover), by reply',
    labelNames: ['reply'] as const,
    registers: [registry],
  }),
  sagaStepDuration: new Histogram({
    name: 'saga_step_duration_seconds',
    help: 'Time a saga spent at a step: from sending its command to handling the reply that moved it on',
    labelNames: ['step'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  consumerLag: new Histogram({
    name: 'kafka_consumer_lag_seconds',
    help: 'Time lag of consumed messages: from the producer timestamp to the start of handling, by topic and partition',
    labelNames: ['topic', 'partition'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  idempotentReplays: new Counter({
    name: 'idempotent_replays_total',
    help: 'Repeated requests or messages answered from their idempotency record without a second effect, by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
  }),
  deadLetters: new Counter({
    name: 'dead_letters_total',
    help: 'Messages set aside on the dead-letter topic (malformed, or failing by their own fault every time), by the topic they came from',
    labelNames: ['topic'] as const,
    registers: [registry],
  }),
  redisErrors: new Counter({
    name: 'redis_errors_total',
    help: 'Redis failures: "connection" (client error events), "liveness" (a silent connection dropped), "revive" (a client ioredis gave up on, connected again), "wait" (replicas did not acknowledge) or the name of the script that failed',
    labelNames: ['operation'] as const,
    registers: [registry],
  }),
  redisHandovers: new Counter({
    name: 'redis_master_handovers_total',
    help: 'Hand-overs of this service\'s Redis master to a replica that this replica began, the master answering far slower than its replicas: outcome "moved" or "not-moved"',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  kafkaErrors: new Counter({
    name: 'kafka_errors_total',
    help: 'Kafka failures by operation: publish (a failed send attempt), consume (stream error), commit, reconnect, silent-member (a consumer session replaced after its coordinator stopped answering), hand-over (a replica left its group, its batches failing)',
    labelNames: ['operation'] as const,
    registers: [registry],
  }),
}

// Failures known in advance start at 0: a series that first appears at 1 hides that first failure
// from increase() and rate(), so an alert on it would miss it; and a dashboard shows 0, not "no data".
for (const operation of ['connection', 'wait', 'liveness', 'revive']) metrics.redisErrors.inc({ operation }, 0)
for (const outcome of ['moved', 'not-moved']) metrics.redisHandovers.inc({ outcome }, 0)
for (const operation of ['publish', 'consume', 'commit', 'reconnect', 'silent-member', 'hand-over', 'stale-metadata']) metrics.kafkaErrors.inc({ operation }, 0)
