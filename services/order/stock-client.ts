// The order service asks the stock service for an item's price when a line is added (HTTP, keep-alive,
// through the gateway, which tries the next stock replica after a frozen or cut-off one). Given up at
// the request's deadline, when the order replica answers 503 anyway.
import { AppError } from '../../platform/errors.js'

export class StockClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  async price(itemId: string): Promise<number> {
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}/stock/find/${encodeURIComponent(itemId)}`, { signal: AbortSignal.timeout(this.timeoutMs) })
    } catch (err) {
      throw new AppError('UNAVAILABLE', `stock service unreachable: ${(err as Error).message}`)
    }
    if (response.status === 404) throw new AppError('NOT_FOUND', `item ${itemId} not found`)
    if (!response.ok) throw new AppError('UNAVAILABLE', `stock service answered ${response.status}`)
    const body = (await response.json()) as { price?: unknown }
    if (typeof body.price !== 'number') throw new AppError('UNAVAILABLE', 'stock service gave no price')
    return body.price
  }
}
