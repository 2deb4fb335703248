// The saga participant that stock and payment both are: entities that hold one counter (an item's
// stock, a user's credit), taken and given back by saga commands and adjusted over HTTP. Every change
// is one atomic Lua script that also records its idempotency key, and nothing is reported back before
// the change is durable (replicated when the profile asks for it).
import { AppError, refusalCode, scriptValue, type ErrorCode } from '../platform/errors.js'
import { execPipeline, loadScript, platformScriptsDir, unmarkReplay, type Redis, type Script } from '../platform/redis.js'
import { httpRecord, messageRecord } from '../platform/idempotency.js'

const scriptsDir = new URL('./scripts/', import.meta.url)
const BATCH_CHUNK = 5000

export interface CounterStoreOptions {
  /** Key prefix of the entity hashes, e.g. "item" → item:<id>. */
  prefix: string
  /** The counter field, e.g. "stock" or "credit". */
  field: string
  /** The refusal when a change would take the counter below zero. */
  shortfall: ErrorCode
  /** What the entity is called in error messages. */
  noun: string
  ttlSeconds: number
  /** The service's durability barrier (ServiceContext.durable). */
  durable(): Promise<void>
}

export type TakeResult = { ok: true } | { ok: false; reason: string }

export class CounterStore {
  readonly #scripts: Record<'create' | 'adjust' | 'take' | 'giveBack', Script>

  constructor(
    readonly redis: Redis,
    readonly options: CounterStoreOptions,
  ) {
    this.#scripts = {
      create: loadScript(redis, platformScriptsDir, 'create-entity'),
      adjust: loadScript(redis, scriptsDir, 'adjust-counter'),
      take: loadScript(redis, scriptsDir, 'take-counters'),
      giveBack: loadScript(redis, scriptsDir, 'give-back'),
    }
  }

  key(id: string): string {
    return `${this.options.prefix}:${id}`
  }

  async create(id: string, fields: Record<string, string | number>, idempotencyKey: string | undefined): Promise<string> {
    const pairs = Object.entries(fields).flat()
    const reply = String(await this.#scripts.create([this.key(id), httpRecord(idempotencyKey, 'create')], [this.options.ttlSeconds, id, ...pairs]))
    await this.durable()
    return scriptValue(reply, `${this.options.noun} ${id}`)
  }

  async find(id: string): Promise<Record<string, number>> {
    const hash = await this.redis.hgetall(this.key(id))
    if (Object.keys(hash).length === 0) throw new AppError('NOT_FOUND', `${this.options.noun} ${id} not found`)
    return Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Number(v)]))
  }

  /** Adds delta (negative to subtract) to the counter; returns the new value. */
  async adjust(id: string, delta: number, idempotencyKey: string | undefined, operation: string): Promise<number> {
    const { field, ttlSeconds, shortfall, noun } = this.options
    const reply = String(await this.#scripts.adjust([this.key(id), httpRecord(idempotencyKey, operation)], [field, delta, ttlSeconds, shortfall]))
    const value = Number(scriptValue(reply, `${noun} ${id}`))
    await this.durable()
    return value
  }

  /** Saga step: takes every amount or none. Idempotent per (step name, saga id). */
  async take(step: string, sagaId: string, lines: [string, number][]): Promise<TakeResult> {
    const { field, ttlSeconds, shortfall } = this.options
    const keys = [messageRecord(step, sagaId), ...lines.map(([id]) => this.key(id))]
    const reply = unmarkReplay(String(await this.#scripts.take(keys, [field, ttlSeconds, shortfall, ...lines.map(([, n]) => n)])), step)
    return reply === 'OK' ? { ok: true } : { ok: false, reason: refusalCode(reply) ?? reply }
  }

  /** Compensation of take(): returns what it took, once; fences it off if it never ran. */
  async giveBack(step: string, takeStep: string, sagaId: string, lines: [string, number][]): Promise<void> {
    const { field, ttlSeconds } = this.options
    const keys = [messageRecord(step, sagaId), messageRecord(takeStep, sagaId), ...lines.map(([id]) => this.key(id))]
    unmarkReplay(String(await this.#scripts.giveBack(keys, [field, ttlSeconds, ...lines.map(([, n]) => n)])), step)
  }

  /** Overwrites entities "0".."n-1" with the same fields, pipelined in chunks. */
  async batchInit(n: number, fields: Record<string, number>): Promise<void> {
    const pairs = Object.entries(fields).flat()
    for (let start = 0; start < n; start += BATCH_CHUNK) {
      const pipeline = this.redis.pipeline()
      for (let i = start; i < Math.min(n, start + BATCH_CHUNK); i++) pipeline.hset(this.key(String(i)), ...pairs)
      await execPipeline(pipeline)
    }
    await this.durable()
  }

  durable(): Promise<void> {
    return this.options.durable()
  }
}
