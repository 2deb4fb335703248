// The chaos workload: a small shop where checkouts succeed, run out of stock or out of credit, driven
// the way a careful client would: every mutation carries an Idempotency-Key and is retried with the
// same key until it gets a definite answer (2xx or 4xx). Everything sent and answered is recorded.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { inParallel, type ApiResponse, type CheckoutApi } from '../client/api.js'

export interface Account {
  id: string
  initial: number
  /** Confirmed additions (stock for an item, funds for a user). */
  added: number
}

export interface Shop {
  items: (Account & { price: number })[]
  users: Account[]
}

export interface CheckoutRecord {
  orderId: string
  userId: string
  lines: [string, number][]
  total: number
  /** Status of each attempt; 0 stands for a reset or timeout (no answer). */
  attempts: number[]
  startedAt: number
  endedAt: number
}

/** One HTTP exchange, for the per-fault statistics. */
export interface Exchange {
  at: number
  status: number
  latencyMs: number
  /** For a request that got no answer: the method and path, and what happened instead (reset, timeout). */
  failure?: string
}

const RETRY_DELAY_MS = 250
const MAX_ATTEMPTS = 120

export class ShopTraffic {
  readonly checkouts: CheckoutRecord[] = []
  readonly exchanges: Exchange[] = []
  /** Checkouts sent and not yet answered definitely: order id → when the first attempt went out. */
  readonly pending = new Map<string, number>()
  #running = false

  constructor(
    private readonly api: CheckoutApi,
    readonly shop: Shop,
  ) {}

  /** Sends with the same idempotency key until the answer is definite; records every attempt. */
  async send(method: string, path: string, key: string = randomUUID()): Promise<{ response: ApiResponse; attempts: number[] }> {
    const attempts: number[] = []
    for (;;) {
      const started = Date.now()
      let response: ApiResponse | undefined
      let failure: string | undefined
      try {
        response = await this.api.request(method, path, { 'idempotency-key': key }, 30_000)
      } catch (error) {
        failure = `${method} ${path.split('/').slice(0, 3).join('/')}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`
      }
      const status = response?.status ?? 0
      attempts.push(status)
      this.exchanges.push({ at: started, status, latencyMs: Date.now() - started, ...(failure ? { failure } : {}) })
      if (response && status < 500) return { response, attempts }
      if (attempts.length >= MAX_ATTEMPTS) throw new Error(`${method} ${path}: no definite answer after ${attempts.length} attempts`)
      await sleep(RETRY_DELAY_MS)
    }
  }

  /** Runs `workers` shoppers (and one restocker) until stop() is called. */
  async run(workers: number): Promise<void> {
    this.#running = true
    await Promise.all([...Array.from({ length: workers }, () => this.#shopper()), this.#restocker()])
  }

  stop(): void {
    this.#running = false
  }

  async #shopper(): Promise<void> {
    while (this.#running) {
      const user = pick(this.shop.users)
      const lines = new Map<string, number>()
      for (let i = 0, n = 1 + Math.floor(Math.random() * 2); i < n; i++) lines.set(pick(this.shop.items).id, 1 + Math.floor(Math.random() * 2))
      const { response } = await this.send('POST', `/orders/create/${user.id}`)
      const orderId = String(response.body.order_id)
      let total = 0
      for (const [itemId, qty] of lines) total = Number((await this.send('POST', `/orders/addItem/${orderId}/${itemId}/${qty}`)).response.body.total_cost)
      const startedAt = Date.now()
      this.pending.set(orderId, startedAt)
      const { attempts } = await this.send('POST', `/orders/checkout/${orderId}`)
      this.pending.delete(orderId)
      this.checkouts.push({ orderId, userId: user.id, lines: [...lines], total, attempts, startedAt, endedAt: Date.now() })
    }
  }

  /**
   * Keeps outcomes mixed (about as many succeed as are refused): what each refused checkout lacked,
   * its items' quantities and its total in credit, arrives a little later for a later checkout.
   */
  async #restocker(): Promise<void> {
    const items = new Map(this.shop.items.map((item) => [item.id, item]))
    const users = new Map(this.shop.users.map((user) => [user.id, user]))
    let seen = 0
    while (this.#running) {
      await sleep(250)
      const refused = this.checkouts.slice(seen).filter((checkout) => checkout.attempts.at(-1) === 409)
      seen = this.checkouts.length
      await inParallel(refused, 4, async ({ lines, userId, total }) => {
        for (const [itemId, qty] of lines) {
          if ((await this.send('POST', `/stock/add/${itemId}/${qty}`)).response.status === 200) items.get(itemId)!.added += qty
        }
        if ((await this.send('POST', `/payment/add_funds/${userId}/${total}`)).response.status === 200) users.get(userId)!.added += total
      })
    }
  }
}

export async function openShop(api: CheckoutApi, items: number, users: number): Promise<Shop> {
  const shop: Shop = { items: [], users: [] }
  await inParallel(Array.from({ length: items }), 10, async () => {
    const price = 1 + Math.floor(Math.random() * 3)
    const initial = Math.floor(Math.random() * 15)
    const id = await api.createItem(price)
    if (initial > 0) await api.addStock(id, initial)
    shop.items.push({ id, price, initial, added: 0 })
  })
  await inParallel(Array.from({ length: users }), 10, async () => {
    const initial = Math.floor(Math.random() * 8)
    const id = await api.createUser()
    if (initial > 0) await api.addFunds(id, initial)
    shop.users.push({ id, initial, added: 0 })
  })
  return shop
}

function pick<T>(list: T[]): T {
  return list[Math.floor(Math.random() * list.length)]!
}
