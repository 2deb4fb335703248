// Structured JSON logs (pino): one line per significant event, with the ids needed to trace it.
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(service: string, instanceId: string, level = 'info'): Logger {
  return pino({ level, base: { service, instance: instanceId } })
}
