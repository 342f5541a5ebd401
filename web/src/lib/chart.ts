/**
 * The answer's chart description (`{type, title, axis: {x, y[], series?}}`) as an ECharts option.
 * Pure, so it is unit-tested without a canvas.
 */

export interface AxisField {
  name?: string
  value: string
}

export interface ChartSpec {
  type?: 'table' | 'bar' | 'column' | 'line' | 'pie' | string
  title?: string
  axis?: { x?: AxisField; y?: AxisField[] | AxisField; series?: AxisField }
  columns?: AxisField[]
}

type Row = Record<string, unknown>

const num = (v: unknown): number | null => {
  if (typeof v === 'number') return v
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v)
  return null
}

/** True when the spec draws something (a `table` chart is just the table). */
export function isDrawable(spec: ChartSpec | null | undefined, rows: Row[] | undefined): spec is ChartSpec {
  if (!spec || !rows?.length) return false
  if (!['bar', 'column', 'line', 'pie'].includes(spec.type ?? '')) return false
  return Boolean(spec.axis?.x?.value && yFields(spec).length)
}

function yFields(spec: ChartSpec): AxisField[] {
  const y = spec.axis?.y
  if (!y) return []
  return (Array.isArray(y) ? y : [y]).filter((f) => f && f.value)
}

const PALETTE = ['#409eff', '#67c23a', '#e6a23c', '#f56c6c', '#909399', '#5470c6', '#91cc75', '#fac858', '#73c0de', '#9a60b4']

export type ChartType = 'column' | 'bar' | 'line' | 'pie'

/**
 * The chart types that suit this result: column and bar always; a line for three or more categories; a pie
 * for one measure of no more than 12 non-negative parts, not split into series.
 */
export function fittingTypes(spec: ChartSpec, rows: Row[]): ChartType[] {
  const x = spec.axis?.x?.value
  const ys = yFields(spec)
  if (!x || !ys.length || !rows.length) return []
  const categories = new Set(rows.map((r) => String(r[x])))
  const out: ChartType[] = ['column', 'bar']
  if (categories.size >= 3) out.push('line')
  const split = Boolean(spec.axis?.series?.value)
  if (ys.length === 1 && !split && categories.size <= 12 && rows.every((r) => (num(r[ys[0].value]) ?? 0) >= 0)) out.push('pie')
  return out
}

/** The option for `spec` drawn as `type` (default: the spec's own), with column titles from `titles`. */
export function chartOption(spec: ChartSpec, rows: Row[], titles: Record<string, string> = {}, type?: ChartType): Record<string, unknown> {
  spec = type ? { ...spec, type } : spec
  const title = (f: AxisField) => titles[f.value] ?? f.name ?? f.value
  const x = { ...spec.axis!.x!, name: title(spec.axis!.x!) }
  const ys = yFields(spec).map((f) => ({ ...f, name: title(f) }))
  const label = (v: unknown) => (v == null ? '' : String(v))
  const base = {
    color: PALETTE,
    animationDuration: 400,
    tooltip: { trigger: spec.type === 'pie' ? 'item' : 'axis', confine: true },
    textStyle: { fontFamily: 'inherit' },
  }

  if (spec.type === 'pie') {
    const y = ys[0]
    return {
      ...base,
      legend: { type: 'scroll', bottom: 0 },
      series: [
        {
          type: 'pie',
          name: y.name ?? y.value,
          radius: ['38%', '68%'],
          center: ['50%', '45%'],
          itemStyle: { borderRadius: 4, borderColor: '#fff', borderWidth: 2 },
          label: { formatter: '{b}: {d}%' },
          data: rows.map((r) => ({ name: label(r[x.value]), value: num(r[y.value]) ?? 0 })),
        },
      ],
    }
  }

  // One series per y field, or one per value of the series field (a long table pivoted).
  const categories: string[] = []
  for (const r of rows) {
    const c = label(r[x.value])
    if (!categories.includes(c)) categories.push(c)
  }
  let series: { name: string; data: (number | null)[] }[]
  const split = spec.axis?.series?.value
  if (split) {
    const y = ys[0]
    const groups = new Map<string, (number | null)[]>()
    for (const r of rows) {
      const g = label(r[split])
      if (!groups.has(g)) groups.set(g, categories.map(() => null))
      groups.get(g)![categories.indexOf(label(r[x.value]))] = num(r[y.value])
    }
    series = [...groups].map(([name, data]) => ({ name, data }))
  } else {
    series = ys.map((y) => {
      const data = categories.map(() => null as number | null)
      for (const r of rows) data[categories.indexOf(label(r[x.value]))] = num(r[y.value])
      return { name: y.name ?? y.value, data }
    })
  }

  const horizontal = spec.type === 'bar'
  const kind = spec.type === 'line' ? 'line' : 'bar'
  // Every category keeps its label: long or many labels are turned (columns) or truncated with the full
  // text in the tooltip (bars), rather than every other one being hidden.
  const longest = Math.max(0, ...categories.map((c) => [...c].reduce((n, ch) => n + (ch.charCodeAt(0) > 0x2e80 ? 2 : 1), 0)))
  const turn = !horizontal && categories.length <= 40 && (categories.length > 8 || longest * categories.length > 60)
  const categoryAxis = {
    type: 'category',
    data: categories,
    // vertical: the title under the labels; horizontal: above the labels, left-aligned, so it never overprints them
    name: x.name,
    nameLocation: horizontal ? 'end' : 'middle',
    nameGap: horizontal ? 12 : turn ? Math.min(90, 16 + longest * 4) : 30,
    nameTextStyle: horizontal ? { align: 'right', fontWeight: 600 } : { fontWeight: 600 },
    axisLabel: horizontal
      ? { interval: 0, width: 110, overflow: 'truncate' }
      : { interval: categories.length <= 40 ? 0 : 'auto', hideOverlap: categories.length > 40, rotate: turn ? 35 : 0, width: turn ? 110 : undefined, overflow: 'truncate' },
  }
  const valueAxis = {
    type: 'value',
    name: ys.length === 1 ? ys[0].name : undefined,
    nameLocation: 'end',
    nameGap: horizontal ? 12 : 14,
    nameTextStyle: horizontal ? { align: 'right', verticalAlign: 'top', padding: [28, 0, 0, 0], fontWeight: 600 } : { align: 'left', fontWeight: 600 },
    splitLine: { lineStyle: { type: 'dashed' } },
  }
  return {
    ...base,
    legend: series.length > 1 ? { type: 'scroll', top: 0 } : undefined,
    grid: {
      left: 12,
      right: horizontal ? 40 : 24,
      top: series.length > 1 ? 44 : 36,
      bottom: horizontal ? 30 : turn ? 12 : 30,
      containLabel: true,
    },
    xAxis: horizontal ? valueAxis : categoryAxis,
    yAxis: horizontal ? { ...categoryAxis, inverse: true } : valueAxis,
    dataZoom: categories.length > 30 ? [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 4 }] : undefined,
    series: series.map((s) => ({
      type: kind,
      name: s.name,
      data: s.data,
      smooth: kind === 'line',
      showSymbol: kind === 'line' && categories.length <= 40,
      barMaxWidth: 36,
      itemStyle: kind === 'bar' ? { borderRadius: horizontal ? [0, 4, 4, 0] : [4, 4, 0, 0] } : undefined,
      areaStyle: kind === 'line' && series.length === 1 ? { opacity: 0.08 } : undefined,
    })),
  }
}
