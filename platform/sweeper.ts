// A periodic task that at most one replica runs at a time (a short Redis lease), e.g. re-sending the
// current command of sagas that stopped moving because a process died between two steps.
import type { Logger } from './logger.js'
import type { Redis } from './redis.js'
import type { Background } from './service.js'

export interface SweeperOptions {
  redis: Redis
  name: string
  intervalMs: number
  logger: Logger
  sweep(): Promise<void>
}

export function startSweeper({ redis, name, intervalMs, logger, sweep }: SweeperOptions): Background {
  let running: Promise<void> | undefined
  const tick = async () => {
    const leased = await redis.set(`lease:${name}`, String(process.pid), 'PX', intervalMs, 'NX')
    if (leased) await sweep()
  }
  const timer = setInterval(() => {
    if (running) return
    running = tick()
      .catch((err: Error) => logger.warn({ err: err.message, sweeper: name }, 'sweep failed'))
      .finally(() => (running = undefined))
  }, intervalMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}
