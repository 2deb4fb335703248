// The only file that knows the orchestrator's Redis keys:
//   saga:<id>       hash {data (JSON of the checkout), phase, step, reason}; kept a while once done
//   sagas:active    sorted set of unfinished sagas by last move (the sweeper resumes the stale ones)
import type { Config } from '../../platform/config.js'
import { loadScript, type Redis, type Script } from '../../platform/redis.js'
import type { Phase, Position } from './runner.js'
import type { CheckoutData } from './saga.js'

const scriptsDir = new URL('./scripts/', import.meta.url)
const ACTIVE = 'sagas:active'

export interface SagaState {
  data: CheckoutData
  position: Position
}

export class SagaStore {
  readonly #scripts: Record<'create' | 'advance', Script>
  readonly #ttl: number

  constructor(
    readonly redis: Redis,
    config: Config,
  ) {
    this.#ttl = config.idempotencyTtlSeconds
    this.#scripts = { create: loadScript(redis, scriptsDir, 'create-saga'), advance: loadScript(redis, scriptsDir, 'advance-saga') }
  }

  /** Persists a new saga at its start; false when it exists already. */
  async create(data: CheckoutData): Promise<boolean> {
    return (await this.#scripts.create([key(data.sagaId), ACTIVE], [data.sagaId, JSON.stringify(data), Date.now()])) === 1
  }

  async load(sagaId: string): Promise<SagaState | undefined> {
    const hash = await this.redis.hgetall(key(sagaId))
    if (!hash.data) return undefined
    const position: Position = { phase: hash.phase as Phase, step: Number(hash.step) }
    if (hash.reason) position.reason = hash.reason
    return { data: JSON.parse(hash.data) as CheckoutData, position }
  }

  /** Moves the saga from `from` to `to`; false when it was no longer at `from`. */
  async advance(sagaId: string, from: Position, to: Position): Promise<boolean> {
    const args = [sagaId, from.phase, from.step, to.phase, to.step, to.reason ?? '', Date.now(), this.#ttl]
    return (await this.#scripts.advance([key(sagaId), ACTIVE], args)) === 1
  }

  /** Unfinished sagas that have not moved since `olderThan` (ms epoch); their clock is reset. */
  async claimStale(olderThan: number, limit: number): Promise<string[]> {
    const ids = await this.redis.zrangebyscore(ACTIVE, 0, olderThan, 'LIMIT', 0, limit)
    if (ids.length > 0) await this.redis.zadd(ACTIVE, 'XX', ...ids.flatMap((id) => [Date.now(), id]))
    return ids
  }
}

function key(sagaId: string): string {
  return `saga:${sagaId}`
}
