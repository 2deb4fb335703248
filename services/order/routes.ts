import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../../platform/errors.js'
import { parseAmount, parseBatchSize, parseId, route, type Params } from '../../platform/http.js'
import { idempotencyKey } from '../../platform/idempotency.js'
import type { ServiceContext } from '../../platform/service.js'
import type { OrderService } from './app.js'
import { refusalOf } from './domain.js'

export function orderRoutes(app: FastifyInstance, { store, sagas, stock }: OrderService, context: ServiceContext): void {
  route(app, 'POST', '/orders/create/:userId', async (request) => {
    const userId = parseId((request.params as Params).userId, 'user id')
    const orderId = await store.create(randomUUID(), userId, idempotencyKey(request))
    await context.durable()
    return { order_id: orderId }
  })

  route(app, 'GET', '/orders/find/:orderId', async (request) => store.find(parseId((request.params as Params).orderId, 'order id')))

  route(app, 'POST', '/orders/addItem/:orderId/:itemId/:quantity', async (request) => {
    const params = request.params as Params
    const orderId = parseId(params.orderId, 'order id')
    const itemId = parseId(params.itemId, 'item id')
    const quantity = parseAmount(params.quantity, 'quantity')
    if (quantity === 0) throw new AppError('BAD_INPUT', 'quantity must be at least 1')
    const price = await stock.price(itemId)
    const total = await store.addItem(orderId, itemId, quantity, price, idempotencyKey(request))
    await context.durable()
    return { order_id: orderId, total_cost: total }
  })

  // Starts the order's saga (or joins the one this request's idempotency key started) and answers
  // with its final outcome: 2xx once stock is taken and payment made, 4xx when nothing was. Past
  // this replica's share of the machine, refuses at once with 429 and nothing changed.
  let inFlight = 0
  route(app, 'POST', '/orders/checkout/:orderId', async (request, reply) => {
    const orderId = parseId((request.params as Params).orderId, 'order id')
    if (inFlight >= context.config.maxCheckoutsInFlight) {
      reply.header('retry-after', '1')
      throw new AppError('OVERLOADED', `${inFlight} checkouts in progress here; retry in a second with the same Idempotency-Key`)
    }
    inFlight++
    try {
      const outcome = await sagas.checkout(orderId, idempotencyKey(request))
      if (outcome === undefined) throw new AppError('UNAVAILABLE', `the outcome of the checkout of order ${orderId} is not known yet; retry with the same Idempotency-Key`)
      const refusal = refusalOf(outcome, orderId)
      if (refusal) throw refusal
      return { order_id: orderId, paid: true }
    } finally {
      inFlight--
    }
  })

  route(app, 'POST', '/orders/batch_init/:n/:nItems/:nUsers/:itemPrice', async (request) => {
    const params = request.params as Params
    const n = parseBatchSize(params.n)
    const nItems = parseBatchSize(params.nItems)
    const nUsers = parseBatchSize(params.nUsers)
    if (nItems === 0 || nUsers === 0) throw new AppError('BAD_INPUT', 'n_items and n_users must be at least 1')
    await store.batchInit(n, nItems, nUsers, parseAmount(params.itemPrice, 'item price'))
    await context.durable()
    return { msg: `batch init of ${n} orders successful`, count: n }
  }, { unbounded: true })
}
