import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { parseAmount, parseBatchSize, parseId, route, type Params } from '../../platform/http.js'
import { idempotencyKey } from '../../platform/idempotency.js'
import type { StockStore } from './store.js'

export function stockRoutes(app: FastifyInstance, store: StockStore): void {
  route(app, 'POST', '/stock/item/create/:price', async (request) => {
    const { price } = request.params as Params
    const itemId = await store.create(randomUUID(), { stock: 0, price: parseAmount(price, 'price') }, idempotencyKey(request))
    return { item_id: itemId }
  })

  route(app, 'GET', '/stock/find/:itemId', async (request) => {
    const item = await store.find(parseId((request.params as Params).itemId, 'item id'))
    return { stock: item.stock, price: item.price }
  })

  route(app, 'POST', '/stock/add/:itemId/:amount', async (request) => {
    const { itemId, amount } = request.params as Params
    const id = parseId(itemId, 'item id')
    const stock = await store.adjust(id, parseAmount(amount, 'amount'), idempotencyKey(request), 'add-stock')
    return { item_id: id, stock }
  })

  route(app, 'POST', '/stock/subtract/:itemId/:amount', async (request) => {
    const { itemId, amount } = request.params as Params
    const id = parseId(itemId, 'item id')
    const stock = await store.adjust(id, -parseAmount(amount, 'amount'), idempotencyKey(request), 'subtract-stock')
    return { item_id: id, stock }
  })

  route(app, 'POST', '/stock/batch_init/:n/:startingStock/:itemPrice', async (request) => {
    const { n, startingStock, itemPrice } = request.params as Params
    const count = parseBatchSize(n)
    await store.batchInit(count, { stock: parseAmount(startingStock, 'starting stock'), price: parseAmount(itemPrice, 'item price') })
    return { msg: `batch init of ${count} items successful`, count }
  }, { unbounded: true })
}
