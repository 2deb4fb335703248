// report.html: one self-contained page (inline SVG and CSS, no script, no URL) with the run's charts,
// summary, status breakdown, fault events and options. The whole result is embedded as JSON too.
import { escapeXml, renderTimeChart, type ChartMarker } from './charts.js'
import { describeLoad, formatNumber, type BenchResult } from './results.js'
import { OUTCOME_CLASSES, type LatencySummary, type OutcomeClass } from './stats.js'

const CLASS_COLORS: Record<OutcomeClass, string> = { '2xx': '#2e7d32', '4xx': '#ef8f00', '5xx': '#c62828', error: '#6a1b9a' }
const EVENT_COLOR = '#c62828'

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.sub { color: #666; } .warning { color: #c62828; font-weight: bold; }
svg { width: 100%; height: auto; display: block; margin: 8px 0; }
svg .title { font-size: 14px; font-weight: bold; } svg .axis { font-size: 11px; fill: #555; }
svg .note { font-size: 11px; fill: #888; } svg .marker { font-size: 11px; }`

type Cell = string | number | null

function table(header: string[], rows: Cell[][]): string {
  const cell = (value: Cell) => (typeof value === 'number' ? `<td class="number">${value}</td>` : `<td>${escapeXml(value ?? '-')}</td>`)
  const head = `<tr>${header.map((title) => `<th>${escapeXml(title)}</th>`).join('')}</tr>`
  return `<table>${head}${rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('')}</table>`
}

const latencyRow = (label: string, latency: LatencySummary): Cell[] => [
  label,
  ...[latency.p50Ms, latency.p90Ms, latency.p99Ms, latency.p999Ms, latency.maxMs, latency.meanMs].map((ms) => formatNumber(ms)),
  latency.count,
]

/** One horizontal bar split by status class, in proportion to the checkouts of the window. */
function statusBar(result: BenchResult): string {
  const { classes, requests } = result.summary
  if (requests === 0) return ''
  let x = 0
  const segments = OUTCOME_CLASSES.filter((outcomeClass) => classes[outcomeClass] > 0).map((outcomeClass) => {
    const width = (960 * classes[outcomeClass]) / requests
    const segment = `<rect x="${x}" y="0" width="${width}" height="24" fill="${CLASS_COLORS[outcomeClass]}"><title>${outcomeClass}: ${classes[outcomeClass]}</title></rect>`
    x += width
    return segment
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 960 24" role="img" aria-label="status breakdown">${segments.join('')}</svg>`
}

function charts(result: BenchResult): string {
  const { series, options } = result
  const seconds = series.length
  const warmupSeconds = options.warmupSeconds
  const measuredEnd = warmupSeconds + result.summary.measuredSeconds
  const markers: ChartMarker[] = result.events.map(({ t, label }) => ({ atSecond: (t - result.loadStartedAtEpochMs) / 1000, label, color: EVENT_COLOR }))
  const bands = [
    ...(warmupSeconds > 0 ? [{ fromSecond: 0, toSecond: warmupSeconds, label: 'warm-up' }] : []),
    ...(measuredEnd < seconds ? [{ fromSecond: measuredEnd, toSecond: seconds, label: 'drain' }] : []),
  ]
  const visibleMarkers = markers.filter(({ atSecond }) => atSecond >= 0 && atSecond <= seconds)
  const throughput = renderTimeChart({
    title: 'Checkouts finished per second, by status',
    yLabel: 'per second',
    scale: 'linear',
    seconds,
    bands,
    markers: visibleMarkers,
    series: [
      ...OUTCOME_CLASSES.map((outcomeClass) => ({ label: outcomeClass, color: CLASS_COLORS[outcomeClass], values: series.map((second) => second.classes[outcomeClass]) })),
      ...(options.mode === 'open' ? [{ label: 'skipped', color: '#999', dashed: true, values: series.map((second) => second.skipped) }] : []),
      // Last and dashed: it stays visible where a single status makes up all of it.
      { label: 'all', color: '#1f4e79', dashed: true, values: series.map((second) => second.finished) },
    ],
  })
  const latency = renderTimeChart({
    title: 'Latency of the checkouts answered in each second (from the intended send time)',
    yLabel: 'ms (log scale)',
    scale: 'log',
    seconds,
    bands,
    markers: visibleMarkers,
    series: [
      { label: 'p50', color: '#1f77b4', values: series.map((second) => second.p50Ms) },
      { label: 'p99', color: '#d62728', values: series.map((second) => second.p99Ms) },
      { label: 'max', color: '#bbb', dashed: true, values: series.map((second) => second.maxMs) },
    ],
  })
  return throughput + latency
}

/** With --cpu: CPU per checkout by role and by process over the measurement window. */
function cpuSection({ cpu }: BenchResult): string {
  if (!cpu) return ''
  const ms = (value: number) => value.toFixed(3)
  const roleRows = Object.entries(cpu.byRole)
    .sort(([, a], [, b]) => b.cpuMs - a.cpuMs)
    .map(([role, r]): Cell[] => [role, r.processes, ms(r.msPerCheckout), `${((100 * r.cpuMs) / Math.max(1, cpu.msPerCheckout * cpu.checkouts)).toFixed(1)}%`])
  const processRows = cpu.byProcess.map((p): Cell[] => [p.name + (p.restarted ? ' (restarted)' : ''), p.role, Math.round(p.cpuMs), ms(p.msPerCheckout)])
  return `<h2>CPU per checkout</h2>
<p class="sub">${ms(cpu.msPerCheckout)} ms of cluster CPU per answered checkout (${cpu.checkouts} answers in ${formatNumber(cpu.windowSeconds)} s, ${cpu.clusterCores.toFixed(2)} cores busy on average), from utime + stime in /proc of every supervised process group. The load generator took ${ms(cpu.loadGenerator.msPerCheckout)} ms per checkout besides.</p>
${table(['role', 'processes', 'ms per checkout', 'share'], roleRows)}
${table(['process', 'role', 'CPU ms', 'ms per checkout'], processRows)}`
}

export function renderReport(result: BenchResult): string {
  const { summary, options, machine } = result
  const percent = (count: number) => (summary.requests ? `${((100 * count) / summary.requests).toFixed(2)}%` : '-')
  const outcomeRows = Object.entries(summary.outcomes)
    .sort(([, a], [, b]) => b - a)
    .map(([key, count]): Cell[] => [key, count, percent(count)])
  const summaryRows: Cell[][] = [
    ['checkouts sent in the window', summary.requests],
    ['measured seconds', formatNumber(summary.measuredSeconds)],
    ['answered per second (any HTTP status)', formatNumber(summary.answeredPerSecond)],
    ['2xx per second', formatNumber(summary.succeededPerSecond)],
    ...OUTCOME_CLASSES.map((outcomeClass): Cell[] => [outcomeClass, `${summary.classes[outcomeClass]} (${percent(summary.classes[outcomeClass])})`]),
    ...(options.mode === 'open'
      ? [
          ['skipped at --max-inflight', summary.skipped],
          ['late sends (generator behind schedule)', summary.lateSends],
        ]
      : []),
  ]
  const eventRows = result.events.map(({ t, label }): Cell[] => [new Date(t).toISOString(), formatNumber((t - result.loadStartedAtEpochMs) / 1000), label])
  const machineRows: Cell[][] = [
    ['CPUs', `${machine.cpus} × ${machine.cpuModel}`],
    ['memory', `${(machine.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB`],
    ['Node', machine.node],
    ['OS', machine.os],
  ]
  // `</` cannot end the JSON's script element early once escaped.
  const embedded = JSON.stringify(result).replace(/<\//g, '<\\/')
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Checkout benchmark: ${escapeXml(options.workload)}, ${escapeXml(options.mode)} loop</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Checkout benchmark: ${escapeXml(options.workload)} workload, ${escapeXml(options.mode)} loop</h1>
<p class="sub">${escapeXml(describeLoad(options))}<br>against ${escapeXml(result.gatewayUrl)}${options.start ? ` (a ${options.start} cluster started by the bench)` : ''}, load started ${escapeXml(result.loadStartedAt)}</p>
${summary.stoppedEarly ? `<p class="warning">Stopped early (${escapeXml(summary.stoppedEarly)}) after ${formatNumber(summary.measuredSeconds)} measured seconds.</p>` : ''}
${charts(result)}
<p class="sub">Grey: warm-up and drain, not measured. Dashed red lines: fault events.</p>
<h2>Summary</h2>
<p class="sub">Over the checkouts sent in the measurement window (warm-up excluded), each waited for however long it took.</p>
${table(['', 'value'], summaryRows)}
${table(['latency (ms)', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'count'], [latencyRow('all HTTP answers', summary.latency.answered), latencyRow('2xx only', summary.latency.succeeded)])}
<h2>Status breakdown</h2>
${statusBar(result)}
${table(['outcome', 'count', 'share'], outcomeRows)}
${cpuSection(result)}
<h2>batch_init</h2>
${table(['request', 'status', 'ms'], result.batchInit.map(({ path, status, ms }): Cell[] => [`POST ${path}`, status, ms]))}
<h2>Fault events</h2>
${eventRows.length ? table(['time', 'second of run', 'event'], eventRows) : `<p class="sub">${options.eventsFile ? 'The events file held no events.' : 'No --events file given.'}</p>`}
<h2>Options</h2>
${table(['option', 'value'], Object.entries(options).map(([name, value]): Cell[] => [name, value === null ? '-' : String(value)]))}
<h2>Machine</h2>
${table(['', ''], machineRows)}
<script type="application/json" id="result">${embedded}</script>
</body>
</html>
`
}
