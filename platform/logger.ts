// Structured JSON logs (pino): one line per significant event, with the ids needed to trace it.
// Lines written inside a span carry its trace_id and span_id, so a log line leads to its trace.
import { pino, type Logger } from 'pino'
import { activeTraceIds, tracing } from './telemetry.js'

export type { Logger }

export function createLogger(service: string, instanceId: string, level = 'info'): Logger {
  // Buffered writes (a synchronous write per line costs a syscall on the hot path), flushed every
  // second so that a quiet process's lines still show up promptly.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  setInterval(() => destination.flush(), 1000).unref()
  // Tracing is started before the logger (see service.ts); without it, no per-line lookup at all.
  const mixin = tracing() ? () => activeTraceIds() ?? {} : undefined
  return pino({ level, base: { service, instance: instanceId }, mixin }, destination)
}
