// What a run measured: exact percentiles over every latency sample (a run holds at most a few million
// numbers, a few MB, so no histogram approximation is needed), and a per-second time series.

export type OutcomeClass = '2xx' | '4xx' | '5xx' | 'error'
export const OUTCOME_CLASSES: readonly OutcomeClass[] = ['2xx', '4xx', '5xx', 'error']

/**
 * How one request ended. `key` is the HTTP status, with the business code of a refusal when the body
 * names one ("409 ALREADY_PAID"), or the transport failure ("timeout", "reset", "refused", "error").
 */
export interface Outcome {
  key: string
  outcomeClass: OutcomeClass
}

export interface LatencySummary {
  count: number
  meanMs: number | null
  p50Ms: number | null
  p90Ms: number | null
  p99Ms: number | null
  p999Ms: number | null
  maxMs: number | null
}

/** One second of the run, by completion time: what finished in it and how fast. */
export interface SecondStats {
  /** Seconds since the load started (the warm-up starts at 0). */
  second: number
  /** Requests that finished in this second: HTTP answers and transport failures. */
  finished: number
  classes: Record<OutcomeClass, number>
  /** Open loop: requests due in this second that were not sent because --max-inflight were outstanding. */
  skipped: number
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

/** The requests sent inside the measurement window (warm-up excluded), however late they finished. */
export interface WindowStats {
  requests: number
  classes: Record<OutcomeClass, number>
  outcomes: Record<string, number>
  skipped: number
  /** Latency of every HTTP answer, whatever its status. */
  answered: LatencySummary
  /** Latency of the 2xx answers only (a refusal of a paid order skips the saga and is much faster). */
  succeeded: LatencySummary
}

export function statusClass(status: number): OutcomeClass {
  if (status >= 200 && status < 300) return '2xx'
  if (status >= 400 && status < 500) return '4xx'
  if (status >= 500 && status < 600) return '5xx'
  return 'error'
}

const emptyClasses = (): Record<OutcomeClass, number> => ({ '2xx': 0, '4xx': 0, '5xx': 0, error: 0 })

/** Nearest-rank percentile of ascending samples. */
function percentile(sorted: Float64Array, fraction: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.ceil(fraction * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

function summarizeLatencies(samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort()
  const total = sorted.reduce((sum, value) => sum + value, 0)
  return {
    count: sorted.length,
    meanMs: sorted.length ? total / sorted.length : null,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : null,
  }
}

interface SecondBucket {
  latencies: number[]
  classes: Record<OutcomeClass, number>
  skipped: number
}

/**
 * Collects every request of a run. Times are milliseconds since the recorder was created, which is
 * when the load starts; a request's latency runs from its intended send time, not its actual one.
 */
export class Recorder {
  readonly startedAtEpochMs = Date.now()
  readonly #startedAtPerf = performance.now()
  readonly #seconds: SecondBucket[] = []
  readonly #window = { requests: 0, classes: emptyClasses(), outcomes: {} as Record<string, number>, skipped: 0 }
  readonly #answeredLatencies: number[] = []
  readonly #succeededLatencies: number[] = []
  #answeredInWindow = 0

  constructor(
    private readonly windowStartMs: number,
    private readonly windowEndMs: number,
  ) {}

  now(): number {
    return performance.now() - this.#startedAtPerf
  }

  record(intendedAtMs: number, finishedAtMs: number, outcome: Outcome): void {
    const latencyMs = finishedAtMs - intendedAtMs
    const bucket = this.#bucket(finishedAtMs)
    bucket.classes[outcome.outcomeClass]++
    if (outcome.outcomeClass !== 'error') bucket.latencies.push(latencyMs)
    if (outcome.outcomeClass !== 'error' && this.#inWindow(finishedAtMs)) this.#answeredInWindow++
    if (!this.#inWindow(intendedAtMs)) return
    this.#window.requests++
    this.#window.classes[outcome.outcomeClass]++
    this.#window.outcomes[outcome.key] = (this.#window.outcomes[outcome.key] ?? 0) + 1
    if (outcome.outcomeClass !== 'error') this.#answeredLatencies.push(latencyMs)
    if (outcome.outcomeClass === '2xx') this.#succeededLatencies.push(latencyMs)
  }

  /** HTTP answers that finished (not were sent) inside the window: the work the cluster did in it. */
  get answeredInWindow(): number {
    return this.#answeredInWindow
  }

  recordSkipped(intendedAtMs: number): void {
    this.#bucket(intendedAtMs).skipped++
    if (this.#inWindow(intendedAtMs)) this.#window.skipped++
  }

  second(index: number): SecondStats {
    const bucket = this.#seconds[index] ?? { latencies: [], classes: emptyClasses(), skipped: 0 }
    const latency = summarizeLatencies(bucket.latencies)
    const finished = OUTCOME_CLASSES.reduce((sum, outcomeClass) => sum + bucket.classes[outcomeClass], 0)
    return { second: index, finished, classes: { ...bucket.classes }, skipped: bucket.skipped, p50Ms: latency.p50Ms, p99Ms: latency.p99Ms, maxMs: latency.maxMs }
  }

  series(): SecondStats[] {
    return Array.from({ length: this.#seconds.length }, (_, index) => this.second(index))
  }

  window(): WindowStats {
    return {
      requests: this.#window.requests,
      classes: { ...this.#window.classes },
      outcomes: { ...this.#window.outcomes },
      skipped: this.#window.skipped,
      answered: summarizeLatencies(this.#answeredLatencies),
      succeeded: summarizeLatencies(this.#succeededLatencies),
    }
  }

  #inWindow(atMs: number): boolean {
    return atMs >= this.windowStartMs && atMs < this.windowEndMs
  }

  #bucket(atMs: number): SecondBucket {
    const index = Math.max(0, Math.floor(atMs / 1000))
    for (let missing = this.#seconds.length; missing <= index; missing++) this.#seconds.push({ latencies: [], classes: emptyClasses(), skipped: 0 })
    return this.#seconds[index]!
  }
}
