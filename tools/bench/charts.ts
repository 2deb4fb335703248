// Time-series line charts as inline SVG strings, so the report is one file with no script or URL.

export interface ChartSeries {
  label: string
  color: string
  /** values[i] is second i of the run; null (or, on a log scale, 0) leaves a gap. */
  values: (number | null)[]
  dashed?: boolean
}

/** A vertical line at a moment of the run, such as an injected fault. */
export interface ChartMarker {
  atSecond: number
  label: string
  color: string
}

/** A shaded stretch of the run, such as the warm-up. */
export interface ChartBand {
  fromSecond: number
  toSecond: number
  label: string
}

export interface TimeChart {
  title: string
  yLabel: string
  scale: 'linear' | 'log'
  seconds: number
  series: ChartSeries[]
  markers: ChartMarker[]
  bands: ChartBand[]
}

const WIDTH = 960
const HEIGHT = 300
const MARGIN = { left: 64, right: 16, top: 40, bottom: 36 }
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}

/** Roughly how wide an 11px label is; the SVG is not measured, so this errs on the wide side. */
const textWidth = (text: string) => text.length * 7.5

/** A round upper bound for a linear axis: 1, 2 or 5 times a power of ten. */
function niceCeiling(value: number): number {
  if (value <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  return [1, 2, 5, 10].map((step) => step * power).find((candidate) => candidate >= value)!
}

/** Maps values to pixels and lists the tick values of the y axis. */
function yAxis(chart: TimeChart): { toY: (value: number) => number; ticks: number[] } {
  const values = chart.series.flatMap((series) => series.values).filter((value): value is number => value !== null && value > 0)
  if (chart.scale === 'linear') {
    const top = niceCeiling(Math.max(0, ...values))
    // Round tick values: fifths of a 5 (0, 1, 2, ...), quarters of a 1 or a 2 (0, 0.5, 1, ...).
    const divisions = top / 10 ** Math.floor(Math.log10(top)) === 5 ? 5 : 4
    const ticks = Array.from({ length: divisions + 1 }, (_, index) => (index * top) / divisions)
    return { toY: (value) => MARGIN.top + PLOT_HEIGHT * (1 - value / top), ticks }
  }
  const low = Math.floor(Math.log10(values.length ? Math.min(...values) : 1))
  const high = Math.max(low + 1, Math.ceil(Math.log10(values.length ? Math.max(...values) : 10)))
  const toY = (value: number) => MARGIN.top + PLOT_HEIGHT * (1 - (Math.log10(value) - low) / (high - low))
  return { toY, ticks: Array.from({ length: high - low + 1 }, (_, index) => 10 ** (low + index)) }
}

/** Spacing of the x ticks: at most about a dozen labels whatever the run length. */
function xTickStep(seconds: number): number {
  return [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((step) => seconds / step <= 12) ?? 7200
}

const formatTick = (value: number) => (value >= 1000 ? `${value / 1000}k` : value >= 1 || value === 0 ? String(Math.round(value * 100) / 100) : String(value))

function linePath(values: (number | null)[], toX: (second: number) => number, toY: (value: number) => number, scale: TimeChart['scale']): string {
  let path = ''
  let drawing = false
  values.forEach((value, second) => {
    const drawable = value !== null && (scale === 'linear' || value > 0)
    if (!drawable) {
      drawing = false
      return
    }
    path += `${drawing ? 'L' : 'M'}${toX(second + 0.5).toFixed(1)},${toY(value).toFixed(1)}`
    drawing = true
  })
  return path
}

export function renderTimeChart(chart: TimeChart): string {
  const seconds = Math.max(1, chart.seconds)
  const toX = (second: number) => MARGIN.left + (PLOT_WIDTH * Math.min(Math.max(second, 0), seconds)) / seconds
  const { toY, ticks } = yAxis(chart)
  const bottom = MARGIN.top + PLOT_HEIGHT
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(chart.title)}">`]
  parts.push(`<text x="${MARGIN.left}" y="16" class="title">${escapeXml(chart.title)}</text>`)
  for (const band of chart.bands) {
    const x = toX(band.fromSecond)
    parts.push(`<rect x="${x}" y="${MARGIN.top}" width="${toX(band.toSecond) - x}" height="${PLOT_HEIGHT}" fill="#eee"/>`)
    if (toX(band.toSecond) - x >= textWidth(band.label) + 8) parts.push(`<text x="${x + 4}" y="${MARGIN.top + 12}" class="note">${escapeXml(band.label)}</text>`)
  }
  for (const tick of ticks) {
    const y = toY(tick).toFixed(1)
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`)
    parts.push(`<text x="${MARGIN.left - 6}" y="${y}" dy="4" text-anchor="end" class="axis">${formatTick(tick)}</text>`)
  }
  const step = xTickStep(seconds)
  for (let second = 0; second <= seconds; second += step) {
    parts.push(`<text x="${toX(second)}" y="${bottom + 16}" text-anchor="middle" class="axis">${second}s</text>`)
  }
  parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}" stroke="#888"/>`)
  parts.push(`<text transform="rotate(-90)" x="${-(MARGIN.top + PLOT_HEIGHT / 2)}" y="14" text-anchor="middle" class="axis">${escapeXml(chart.yLabel)}</text>`)
  for (const series of chart.series) {
    const path = linePath(series.values, toX, toY, chart.scale)
    if (path) parts.push(`<path d="${path}" fill="none" stroke="${series.color}" stroke-width="1.6"${series.dashed ? ' stroke-dasharray="4 3"' : ''}/>`)
  }
  for (const marker of chart.markers) {
    const x = toX(marker.atSecond).toFixed(1)
    parts.push(`<line x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${bottom}" stroke="${marker.color}" stroke-dasharray="5 3"/>`)
    parts.push(`<text transform="rotate(-90 ${x} ${MARGIN.top})" x="${x}" y="${MARGIN.top}" dx="-4" dy="-3" text-anchor="end" class="marker" fill="${marker.color}">${escapeXml(marker.label)}</text>`)
  }
  let legendX = WIDTH - MARGIN.right
  for (const series of [...chart.series].reverse()) {
    legendX -= 10 + 4 + textWidth(series.label) + 12
    parts.push(`<rect x="${legendX}" y="8" width="10" height="10" fill="${series.color}"/><text x="${legendX + 14}" y="17" class="axis">${escapeXml(series.label)}</text>`)
  }
  parts.push('</svg>')
  return parts.join('\n')
}
