// The only file that knows the orchestrator's Redis keys:
//   saga:<id>       hash {data (JSON of the checkout), phase, step, reason}; kept a while once done
//   sagas:active    sorted set of unfinished sagas by last move (the sweeper resumes the stale ones)
import type { Config } from '../../platform/config.js'
import { loadScript, type Redis, type Script } from '../../platform/redis.js'
import type { Phase, Position } from './runner.js'
import type { CheckoutData } from './saga.js'
import { setRecent } from './recent.js'

const scriptsDir = new URL('./scripts/', import.meta.url)
const ACTIVE = 'sagas:active'

export interface SagaState {
  data: CheckoutData
  position: Position
}

/** Sagas this process is driving, so a reply needs no read. Redis stays the truth: see advance(). */
const CACHE_LIMIT = 50_000

export class SagaStore {
  readonly #scripts: Record<'create' | 'advance', Script>
  readonly #ttl: number
  readonly #cache = new Map<string, SagaState>()

  constructor(
    readonly redis: Redis,
    config: Config,
  ) {
    this.#ttl = config.idempotencyTtlSeconds
    this.#scripts = { create: loadScript(redis, scriptsDir, 'create-saga'), advance: loadScript(redis, scriptsDir, 'advance-saga') }
  }

  /** Persists a new saga at its start; false when it exists already. */
  async create(data: CheckoutData, start: Position): Promise<boolean> {
    const created = (await this.#scripts.create([key(data.sagaId), ACTIVE], [data.sagaId, JSON.stringify(data), Date.now()])) === 1
    if (created) this.#remember(data.sagaId, { data, position: start })
    return created
  }

  /** The saga as this process last left it, else as Redis has it (`fresh` skips the former). */
  async load(sagaId: string, fresh = false): Promise<SagaState | undefined> {
    const cached = fresh ? undefined : this.#cache.get(sagaId)
    if (cached) return cached
    const hash = await this.redis.hgetall(key(sagaId))
    if (!hash.data) return undefined
    const position: Position = { phase: hash.phase as Phase, step: Number(hash.step) }
    if (hash.reason) position.reason = hash.reason
    const state = { data: JSON.parse(hash.data) as CheckoutData, position }
    if (position.phase !== 'done') this.#remember(sagaId, state)
    return state
  }

  /**
   * Moves the saga from `from` to `to`, guarded in Redis; false when it was no longer at `from`
   * (then the cached copy is dropped, as another orchestrator has moved the saga meanwhile).
   */
  async advance(sagaId: string, from: SagaState, to: Position): Promise<boolean> {
    const { position } = from
    const args = [sagaId, position.phase, position.step, to.phase, to.step, to.reason ?? '', Date.now(), this.#ttl]
    const moved = (await this.#scripts.advance([key(sagaId), ACTIVE], args)) === 1
    if (moved && to.phase !== 'done') this.#remember(sagaId, { data: from.data, position: to })
    else this.#cache.delete(sagaId)
    return moved
  }

  forget(sagaId: string): void {
    this.#cache.delete(sagaId)
  }

  #remember(sagaId: string, state: SagaState): void {
    setRecent(this.#cache, sagaId, state, CACHE_LIMIT)
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
