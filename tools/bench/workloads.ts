// The workloads: which data a run creates up front, and which order each checkout is of.
import type { CheckoutApi } from '../client/api.js'

export type WorkloadName = 'stress' | 'fresh'
export const WORKLOAD_NAMES: readonly WorkloadName[] = ['stress', 'fresh']

/** The WDM stress test's data: plenty of credit and stock, so only an order already paid is refused. */
const STARTING_CREDIT = 1_000_000
const STARTING_STOCK = 1_000_000
const ITEM_PRICE = 1

export interface BatchInitTiming {
  path: string
  status: number
  ms: number
}

export interface Workload {
  readonly name: WorkloadName
  /** Orders "0".."orders-1" exist after `prepare`, with as many users and items. */
  readonly orders: number
  prepare(api: CheckoutApi, log: (line: string) => void): Promise<BatchInitTiming[]>
  /** The order the next checkout is of; undefined once a workload that never repeats one has none left. */
  nextOrder(): string | undefined
}

/** Users, items and orders as the WDM stress test's init_orders.py creates them, each call timed. */
async function batchInit(api: CheckoutApi, size: number, log: (line: string) => void): Promise<BatchInitTiming[]> {
  const paths = [
    `/payment/batch_init/${size}/${STARTING_CREDIT}`,
    `/stock/batch_init/${size}/${STARTING_STOCK}/${ITEM_PRICE}`,
    `/orders/batch_init/${size}/${size}/${size}/${ITEM_PRICE}`,
  ]
  const timings: BatchInitTiming[] = []
  for (const path of paths) {
    const startedAt = performance.now()
    const response = await api.post(path)
    const timing = { path, status: response.status, ms: Math.round(performance.now() - startedAt) }
    log(`POST ${path}: ${timing.status} in ${timing.ms} ms`)
    if (response.status < 200 || response.status >= 300) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(response.body)}`)
    timings.push(timing)
  }
  return timings
}

/** Random orders, as each Locust user of the WDM stress test picks them: after a while most are paid already. */
function stressWorkload(orders: number): Workload {
  return {
    name: 'stress',
    orders,
    prepare: (api, log) => batchInit(api, orders, log),
    nextOrder: () => String(Math.floor(Math.random() * orders)),
  }
}

/** Every checkout is of an order never checked out before, so each one runs the whole saga. */
function freshWorkload(orders: number): Workload {
  let next = 0
  return {
    name: 'fresh',
    orders,
    prepare: (api, log) => batchInit(api, orders, log),
    nextOrder: () => (next < orders ? String(next++) : undefined),
  }
}

export function createWorkload(name: WorkloadName, orders: number): Workload {
  return name === 'stress' ? stressWorkload(orders) : freshWorkload(orders)
}
