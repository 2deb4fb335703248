import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { parseAmount, parseBatchSize, parseId, route, type Params } from '../../platform/http.js'
import { idempotencyKey } from '../../platform/idempotency.js'
import type { PaymentStore } from './store.js'

export function paymentRoutes(app: FastifyInstance, store: PaymentStore): void {
  route(app, 'POST', '/payment/create_user', async (request) => {
    const userId = await store.create(randomUUID(), { credit: 0 }, idempotencyKey(request))
    return { user_id: userId }
  })

  route(app, 'GET', '/payment/find_user/:userId', async (request) => {
    const id = parseId((request.params as Params).userId, 'user id')
    const user = await store.find(id)
    return { user_id: id, credit: user.credit }
  })

  route(app, 'POST', '/payment/add_funds/:userId/:amount', async (request) => {
    const { userId, amount } = request.params as Params
    const id = parseId(userId, 'user id')
    const credit = await store.adjust(id, parseAmount(amount, 'amount'), idempotencyKey(request), 'add-funds')
    return { user_id: id, credit }
  })

  route(app, 'POST', '/payment/pay/:userId/:amount', async (request) => {
    const { userId, amount } = request.params as Params
    const id = parseId(userId, 'user id')
    const credit = await store.adjust(id, -parseAmount(amount, 'amount'), idempotencyKey(request), 'pay')
    return { user_id: id, credit }
  })

  route(app, 'POST', '/payment/batch_init/:n/:startingMoney', async (request) => {
    const { n, startingMoney } = request.params as Params
    const count = parseBatchSize(n)
    await store.batchInit(count, { credit: parseAmount(startingMoney, 'starting money') })
    return { msg: `batch init of ${count} users successful`, count }
  }, { unbounded: true })
}
