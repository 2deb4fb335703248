// The order service asks the stock service for an item's price when a line is added (HTTP, keep-alive,
// through the gateway). It waits longer than the gateway gives one stock replica (10 s), so that the
// gateway's retry on the next replica (after a frozen or cut-off one) answers it, not a timeout here;
// and less than the gateway gives this order replica (13 s), which then answers 503 itself.
import { AppError } from '../../platform/errors.js'

const PRICE_TIMEOUT_MS = 11_000

export class StockClient {
  constructor(private readonly baseUrl: string) {}

  async price(itemId: string): Promise<number> {
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}/stock/find/${encodeURIComponent(itemId)}`, { signal: AbortSignal.timeout(PRICE_TIMEOUT_MS) })
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
