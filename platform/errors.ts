// Coded business errors, mapped to HTTP status in one place.

export const ErrorCodes = {
  BAD_INPUT: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CHECKOUT_IN_PROGRESS: 409,
  ALREADY_PAID: 409,
  OUT_OF_STOCK: 409,
  INSUFFICIENT_CREDIT: 409,
  OVERFLOW: 422,
  /** A checkout one of whose messages could never be handled (it was dead-lettered); nothing was taken. */
  NOT_PROCESSED: 422,
  /** Past capacity: refused at once, nothing changed; retry after the Retry-After header's seconds. */
  OVERLOADED: 429,
  UNAVAILABLE: 503,
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }

  get status(): number {
    return ErrorCodes[this.code]
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ErrorCodes, value)
}

/** Scripts answer a refusal as "ERR:<CODE>": the code, or undefined for any other reply. */
export function refusalCode(reply: string): string | undefined {
  return reply.startsWith('ERR:') ? reply.slice('ERR:'.length) : undefined
}

/** A script's refusal as the matching AppError. */
export function errorFromScript(reply: string, subject: string): AppError | undefined {
  const code = refusalCode(reply)
  if (code === undefined) return undefined
  return new AppError(isErrorCode(code) ? code : 'BAD_INPUT', describe(code, subject))
}

/** Scripts answer "OK:<value>" or a refusal "ERR:<CODE>": the value, or the refusal thrown as an AppError. */
export function scriptValue(reply: string, subject: string): string {
  const error = errorFromScript(reply, subject)
  if (error) throw error
  return reply.slice(reply.indexOf(':') + 1)
}

function describe(code: string, subject: string): string {
  switch (code) {
    case 'NOT_FOUND':
      return `${subject} not found`
    case 'OUT_OF_STOCK':
      return `not enough stock for ${subject}`
    case 'INSUFFICIENT_CREDIT':
      return `not enough credit for ${subject}`
    case 'ALREADY_PAID':
      return `${subject} is already paid`
    case 'CHECKOUT_IN_PROGRESS':
      return `${subject} is being checked out`
    case 'OVERFLOW':
      return `amount too large for ${subject}`
    default:
      return `${code} for ${subject}`
  }
}
