// After a fuzz run: did refused requests change nothing? Replays, in order, every exchange the fuzzer
// recorded, applying only what the 2xx answers say happened, to the items, users and orders the fuzzer
// itself created; checks each 2xx answer's stated value on the way, and then the entities' final state.
import type { CheckoutApi } from '../client/api.js'

export interface Exchange {
  method: string
  /** The path with its percent-encoding undone, as the services route it. */
  path: string
  idempotencyKey?: string
  status: number
  body: unknown
}

interface Item {
  stock: number
  price: number
}
interface Order {
  userId: string
  lines: Map<string, number>
  total: number
  paid: boolean
}

export interface AuditResult {
  created: { items: number; users: number; orders: number }
  /** 2xx answers that changed something, by route. */
  effects: Map<string, number>
  mismatches: string[]
}

type Body = Record<string, unknown>

/** The shop as the 2xx answers describe it. */
export class ShopModel {
  readonly items = new Map<string, Item>()
  readonly users = new Map<string, number>()
  readonly orders = new Map<string, Order>()
  readonly effects = new Map<string, number>()
  readonly mismatches: string[] = []
  /** Method, path and key of every request answered 2xx: a repeat is a replay and has no effect. */
  readonly #answered = new Set<string>()

  apply(exchange: Exchange): void {
    if (exchange.status < 200 || exchange.status >= 300 || exchange.method !== 'POST') return
    if (exchange.idempotencyKey !== undefined) {
      const request = `${exchange.path} ${exchange.idempotencyKey}`
      if (this.#answered.has(request)) return
      this.#answered.add(request)
    }
    const [service, verb, ...args] = exchange.path.split('/').slice(1)
    const route = `${service}/${verb}`
    const body = (exchange.body ?? {}) as Body
    const expect = (what: string, stated: unknown, modelled: number | undefined) => {
      if (modelled !== undefined && stated !== modelled) this.mismatches.push(`${exchange.method} ${exchange.path}: ${what} ${String(stated)}, expected ${modelled}`)
    }
    this.effects.set(route, (this.effects.get(route) ?? 0) + 1)
    switch (route) {
      case 'stock/item':
        this.items.set(String(body.item_id), { stock: 0, price: Number(args[1]) })
        break
      case 'stock/add':
      case 'stock/subtract': {
        const item = this.items.get(args[0]!)
        if (!item) break
        item.stock += (verb === 'add' ? 1 : -1) * Number(args[1])
        expect('stock', body.stock, item.stock)
        break
      }
      case 'payment/create_user':
        this.users.set(String(body.user_id), 0)
        break
      case 'payment/add_funds':
      case 'payment/pay': {
        if (!this.users.has(args[0]!)) break
        const credit = this.users.get(args[0]!)! + (verb === 'add_funds' ? 1 : -1) * Number(args[1])
        this.users.set(args[0]!, credit)
        expect('credit', body.credit, credit)
        break
      }
      case 'orders/create':
        this.orders.set(String(body.order_id), { userId: args[0]!, lines: new Map(), total: 0, paid: false })
        break
      case 'orders/addItem': {
        const order = this.orders.get(args[0]!)
        if (!order) break
        const [itemId, quantity] = [args[1]!, Number(args[2])]
        order.lines.set(itemId, (order.lines.get(itemId) ?? 0) + quantity)
        const item = this.items.get(itemId)
        // An item the fuzzer did not create (a batch_init one) has a price the model does not know.
        expect('total_cost', body.total_cost, item ? order.total + item.price * quantity : undefined)
        order.total = Number(body.total_cost)
        break
      }
      case 'orders/checkout': {
        const order = this.orders.get(args[0]!)
        if (!order) break
        order.paid = true
        if (this.users.has(order.userId)) this.users.set(order.userId, this.users.get(order.userId)! - order.total)
        for (const [itemId, quantity] of order.lines) {
          const item = this.items.get(itemId)
          if (item) item.stock -= quantity
        }
        break
      }
    }
  }

  /** Compares every created entity with what the system now says. */
  async compareWith(api: CheckoutApi): Promise<void> {
    const differ = (what: string, actual: unknown, expected: unknown) => {
      if (JSON.stringify(actual) !== JSON.stringify(expected)) this.mismatches.push(`${what}: is ${JSON.stringify(actual)}, the 2xx answers say ${JSON.stringify(expected)}`)
    }
    for (const [id, item] of this.items) {
      const { body } = await api.request<Body>('GET', `/stock/find/${id}`)
      differ(`item ${id}`, { stock: body.stock, price: body.price }, item)
    }
    for (const [id, credit] of this.users) {
      const { body } = await api.request<Body>('GET', `/payment/find_user/${id}`)
      differ(`user ${id} credit`, body.credit, credit)
    }
    for (const [id, order] of this.orders) {
      const { body } = await api.request<Body>('GET', `/orders/find/${id}`)
      differ(`order ${id}`, { paid: body.paid, total_cost: body.total_cost }, { paid: order.paid, total_cost: order.total })
    }
  }

  result(): AuditResult {
    return { created: { items: this.items.size, users: this.users.size, orders: this.orders.size }, effects: this.effects, mismatches: this.mismatches }
  }
}
