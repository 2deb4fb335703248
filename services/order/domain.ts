// Pure rules of the order service: how lines are stored, how saga ids carry their start time, and what
// a saga outcome means to the client.
import { randomBytes } from 'node:crypto'
import { AppError, isErrorCode } from '../../platform/errors.js'
import type { Line } from '../../platform/messages.js'

/** Lines are stored as "itemId=qty;itemId=qty" (see scripts/add-item.lua). */
export function decodeLines(encoded: string | undefined): Line[] {
  if (!encoded) return []
  return encoded.split(';').map((part) => {
    const [id, qty] = part.split('=') as [string, string]
    return [id, Number(qty)]
  })
}

export function encodeLines(lines: Line[]): string {
  return lines.map(([id, qty]) => `${id}=${qty}`).join(';')
}

/** "paid" or "failed:<REASON>", as recorded by scripts/finish-checkout.lua. */
export type Outcome = string

export const PAID: Outcome = 'paid'

export function failedOutcome(reason: string): Outcome {
  return `failed:${reason}`
}

/** Turns a failed outcome into the 4xx the client gets; a paid one returns nothing. */
export function refusalOf(outcome: Outcome, orderId: string): AppError | undefined {
  if (outcome === PAID) return undefined
  const reason = outcome.slice('failed:'.length)
  const code = isErrorCode(reason) && reason !== 'UNAVAILABLE' ? reason : 'BAD_INPUT'
  return new AppError(code, `checkout of order ${orderId} failed: ${reason}`)
}

/** A new saga id: a UUID version 7, whose first 48 bits are the start time (ms since the epoch). */
export function newSagaId(now = Date.now()): string {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** When the saga `sagaId` started (ms since the epoch); undefined for an id that is not a version 7 UUID. */
export function sagaStartedAt(sagaId: string): number | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(sagaId)) return undefined
  return parseInt(sagaId.slice(0, 8) + sagaId.slice(9, 13), 16)
}
