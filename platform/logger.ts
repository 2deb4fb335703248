// Structured JSON logs (pino): one line per significant event, with the ids needed to trace it.
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(service: string, instanceId: string, level = 'info'): Logger {
  // Buffered writes (a synchronous write per line costs a syscall on the hot path), flushed every
  // second so that a quiet process's lines still show up promptly.
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  setInterval(() => destination.flush(), 1000).unref()
  return pino({ level, base: { service, instance: instanceId } }, destination)
}
