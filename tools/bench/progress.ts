// The live progress line, once a second on stderr: what finished in the last full second.
import type { Recorder, SecondStats } from './stats.js'

const formatMs = (ms: number | null) => (ms === null ? '-' : ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`)

function progressLine(stats: SecondStats, phase: string): string {
  const statuses = `2xx ${stats.classes['2xx']}  4xx ${stats.classes['4xx']}  5xx ${stats.classes['5xx']}  err ${stats.classes.error}`
  const skipped = stats.skipped ? `  skipped ${stats.skipped}` : ''
  return (
    `${String(stats.second + 1).padStart(4)}s ${phase.padEnd(7)} ${String(stats.finished).padStart(6)} req/s  ` +
    `p50 ${formatMs(stats.p50Ms).padStart(7)}  p99 ${formatMs(stats.p99Ms).padStart(7)}  ${statuses}${skipped}`
  )
}

/** Starts printing; the returned function stops it. */
export function startProgress(recorder: Recorder, phaseAt: (ms: number) => string, write: (line: string) => void): () => void {
  let printed = 0
  const timer = setInterval(() => {
    const lastFullSecond = Math.floor(recorder.now() / 1000) - 1
    for (; printed <= lastFullSecond; printed++) write(progressLine(recorder.second(printed), phaseAt(printed * 1000)))
  }, 1000)
  return () => clearInterval(timer)
}
