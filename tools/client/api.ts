// A small HTTP client of the checkout API, shared by the tests, the benchmark and the chaos tool.
// node:http with a keep-alive agent: no dependency, and cheap enough to generate load with.
import http from 'node:http'

export interface ApiResponse<T = Record<string, unknown>> {
  status: number
  body: T
  contentType: string | undefined
  headers: http.IncomingHttpHeaders
}

export class CheckoutApi {
  readonly #agent: http.Agent
  readonly #base: URL

  constructor(baseUrl: string, maxSockets = 256) {
    this.#base = new URL(baseUrl)
    this.#agent = new http.Agent({ keepAlive: true, maxSockets })
  }

  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    timeoutMs = 120_000,
    body?: string,
  ): Promise<ApiResponse<T>> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.#base.hostname, port: this.#base.port, method, path, headers, agent: this.#agent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let body: unknown
            try {
              body = text ? JSON.parse(text) : undefined
            } catch {
              body = { unparsable: text }
            }
            resolve({ status: res.statusCode ?? 0, body: body as T, contentType: res.headers['content-type'], headers: res.headers })
          })
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${path}`)))
      req.on('error', reject)
      req.end(body)
    })
  }

  post<T = Record<string, unknown>>(path: string, headers?: Record<string, string>): Promise<ApiResponse<T>> {
    return this.request<T>('POST', path, headers)
  }

  get<T = Record<string, unknown>>(path: string): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path)
  }

  async createItem(price: number): Promise<string> {
    return expectOk(await this.post<{ item_id: string }>(`/stock/item/create/${price}`)).item_id
  }

  async addStock(itemId: string, amount: number): Promise<number> {
    return expectOk(await this.post<{ stock: number }>(`/stock/add/${itemId}/${amount}`)).stock
  }

  async findItem(itemId: string): Promise<{ stock: number; price: number }> {
    return expectOk(await this.get<{ stock: number; price: number }>(`/stock/find/${itemId}`))
  }

  async createUser(): Promise<string> {
    return expectOk(await this.post<{ user_id: string }>('/payment/create_user')).user_id
  }

  async addFunds(userId: string, amount: number): Promise<number> {
    return expectOk(await this.post<{ credit: number }>(`/payment/add_funds/${userId}/${amount}`)).credit
  }

  async findUser(userId: string): Promise<{ user_id: string; credit: number }> {
    return expectOk(await this.get<{ user_id: string; credit: number }>(`/payment/find_user/${userId}`))
  }

  async createOrder(userId: string): Promise<string> {
    return expectOk(await this.post<{ order_id: string }>(`/orders/create/${userId}`)).order_id
  }

  async addItem(orderId: string, itemId: string, quantity: number): Promise<number> {
    return expectOk(await this.post<{ total_cost: number }>(`/orders/addItem/${orderId}/${itemId}/${quantity}`)).total_cost
  }

  async findOrder(orderId: string): Promise<Order> {
    return expectOk(await this.get<Order>(`/orders/find/${orderId}`))
  }

  checkout(orderId: string, idempotencyKey?: string): Promise<ApiResponse> {
    return this.post(`/orders/checkout/${orderId}`, idempotencyKey ? { 'idempotency-key': idempotencyKey } : {})
  }

  close(): void {
    this.#agent.destroy()
  }
}

export interface Order {
  order_id: string
  paid: boolean
  items: [string, number][]
  user_id: string
  total_cost: number
}

export function expectOk<T>(response: ApiResponse<T>): T {
  if (response.status < 200 || response.status >= 300) throw new Error(`expected 2xx, got ${response.status}: ${JSON.stringify(response.body)}`)
  return response.body
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function inParallel<T, R>(items: T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}
