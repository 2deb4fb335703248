// Idempotency records, written by the same Lua script as the change they guard. Their names live here
// only, so that no store needs another's module to learn them.
import type { FastifyRequest } from 'fastify'
import { AppError } from './errors.js'

const MAX_KEY_LENGTH = 200

/**
 * The request's idempotency key (its `Idempotency-Key`, else the gateway's `X-Request-Id`, which
 * nginx keeps on a retry to the next replica), scoped to the request's path: a key names one request,
 * so the same key sent with another path (another item, amount or order) is another request, not a
 * replay of the first.
 */
export function idempotencyKey(request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key'] ?? request.headers['x-request-id']
  const key = Array.isArray(raw) ? raw[0] : raw
  if (key === undefined || key === '') return undefined
  if (key.length > MAX_KEY_LENGTH) throw new AppError('BAD_INPUT', `Idempotency-Key is longer than ${MAX_KEY_LENGTH} characters`)
  return `${request.url} ${key}`
}

/** The idempotency record of an HTTP mutation ('' when the request carries no key). */
export function httpRecord(idempotencyKey: string | undefined, operation: string): string {
  return idempotencyKey ? `idem:http:${operation}:${idempotencyKey}` : ''
}

/** The idempotency record of a saga command: its type plus its saga id. */
export function messageRecord(type: string, sagaId: string): string {
  return `idem:msg:${type}:${sagaId}`
}
