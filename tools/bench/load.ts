// The two load engines. Closed loop: a fixed number of workers, each sending its next checkout when the
// previous one is answered, so the system's speed sets the rate. Open loop: checkouts due at a fixed
// rate whatever the answers, each timed from when it was due, so a stall is not hidden by the load
// generator slowing down with it (no coordinated omission).
import { setTimeout as sleep } from 'node:timers/promises'
import type { CheckoutApi } from '../client/api.js'
import { statusClass, type Outcome, type Recorder } from './stats.js'

export type LoadMode = 'closed' | 'open'
export const LOAD_MODES: readonly LoadMode[] = ['closed', 'open']

export interface LoadPlan {
  mode: LoadMode
  /** Closed loop: the number of workers. */
  connections: number
  /** Open loop: checkouts per second. */
  rate: number
  /** Open loop: a due checkout is skipped (and counted) while this many are outstanding. */
  maxInflight: number
  warmupMs: number
  durationMs: number
  timeoutMs: number
}

export type StopReason = 'interrupted' | 'orders exhausted'

export interface LoadResult {
  /** Null when the run went its full length. */
  stoppedEarly: StopReason | null
  /** When the last checkout was due, in recorder time: the end of what was measured. */
  lastIntendedAtMs: number
  /** Open loop: checkouts sent more than LATE_SEND_MS after they were due, because the generator lagged. */
  lateSends: number
}

/** Beyond this the load generator itself, not the system, is behind (the timer ticks every ~1 ms). */
const LATE_SEND_MS = 10

const errorCodeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code

/** Sends one checkout; never throws: a transport failure is an outcome like any status. */
async function checkout(api: CheckoutApi, orderId: string, timeoutMs: number): Promise<Outcome> {
  try {
    const response = await api.request<{ code?: unknown }>('POST', `/orders/checkout/${orderId}`, {}, timeoutMs)
    const outcomeClass = statusClass(response.status)
    // The services name a refusal's reason ("ALREADY_PAID"); it tells expected refusals from others.
    const code = outcomeClass === '4xx' && typeof response.body?.code === 'string' ? ` ${response.body.code}` : ''
    return { key: `${response.status}${code}`, outcomeClass }
  } catch (error) {
    const code = errorCodeOf(error)
    if (code === 'ECONNRESET') return { key: 'reset', outcomeClass: 'error' }
    if (code === 'ECONNREFUSED') return { key: 'refused', outcomeClass: 'error' }
    if (error instanceof Error && error.message.startsWith('timeout after')) return { key: 'timeout', outcomeClass: 'error' }
    return { key: code ? `error ${code}` : 'error', outcomeClass: 'error' }
  }
}

export function runLoad(api: CheckoutApi, nextOrder: () => string | undefined, plan: LoadPlan, recorder: Recorder, stop: AbortSignal): Promise<LoadResult> {
  return plan.mode === 'closed' ? closedLoop(api, nextOrder, plan, recorder, stop) : openLoop(api, nextOrder, plan, recorder, stop)
}

async function closedLoop(api: CheckoutApi, nextOrder: () => string | undefined, plan: LoadPlan, recorder: Recorder, stop: AbortSignal): Promise<LoadResult> {
  const endAtMs = plan.warmupMs + plan.durationMs
  let exhausted = false
  let lastIntendedAtMs = 0
  const worker = async () => {
    while (!stop.aborted && !exhausted && recorder.now() < endAtMs) {
      const orderId = nextOrder()
      if (orderId === undefined) {
        exhausted = true
        return
      }
      const intendedAtMs = recorder.now()
      lastIntendedAtMs = Math.max(lastIntendedAtMs, intendedAtMs)
      const outcome = await checkout(api, orderId, plan.timeoutMs)
      recorder.record(intendedAtMs, recorder.now(), outcome)
    }
  }
  await Promise.all(Array.from({ length: plan.connections }, worker))
  return { stoppedEarly: stopReason(stop, exhausted), lastIntendedAtMs, lateSends: 0 }
}

async function openLoop(api: CheckoutApi, nextOrder: () => string | undefined, plan: LoadPlan, recorder: Recorder, stop: AbortSignal): Promise<LoadResult> {
  const endAtMs = plan.warmupMs + plan.durationMs
  const intervalMs = 1000 / plan.rate
  const outstanding = new Set<Promise<void>>()
  let exhausted = false
  let lateSends = 0
  let index = 0
  const dueAt = (i: number) => i * intervalMs
  while (!stop.aborted && !exhausted && dueAt(index) < endAtMs) {
    const nowMs = recorder.now()
    // Every checkout due by now goes out, each stamped with the time it was due.
    for (; dueAt(index) <= nowMs && dueAt(index) < endAtMs; index++) {
      const intendedAtMs = dueAt(index)
      if (outstanding.size >= plan.maxInflight) {
        recorder.recordSkipped(intendedAtMs)
        continue
      }
      const orderId = nextOrder()
      if (orderId === undefined) {
        exhausted = true
        break
      }
      if (nowMs - intendedAtMs > LATE_SEND_MS) lateSends++
      const request = checkout(api, orderId, plan.timeoutMs).then((outcome) => {
        recorder.record(intendedAtMs, recorder.now(), outcome)
        outstanding.delete(request)
      })
      outstanding.add(request)
    }
    // Sleep until the next one is due; a timer cannot wake sooner than ~1 ms, hence the batches above.
    await sleep(Math.max(1, dueAt(index) - recorder.now()))
  }
  await Promise.all(outstanding)
  return { stoppedEarly: stopReason(stop, exhausted), lastIntendedAtMs: dueAt(Math.max(0, index - 1)), lateSends }
}

function stopReason(stop: AbortSignal, exhausted: boolean): StopReason | null {
  if (stop.aborted) return 'interrupted'
  return exhausted ? 'orders exhausted' : null
}
