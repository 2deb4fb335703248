// Pure rules of the order service: how lines are stored, and what a saga outcome means to the client.
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
