import { describe, expect, it } from 'vitest'
import { chartOption, fittingTypes, type ChartSpec } from '@/lib/chart'
import { columnTitle } from '@/lib/labels'

const known = new Map([
  ['sales', 'Sales amount'],
  ['region', 'Region'],
])
const knownZh = new Map([
  ['sales', '销售额'],
  ['region', '地区'],
])

describe('column titles', () => {
  it('come from descriptions, also for computed columns, in both languages', () => {
    expect(columnTitle('region', known, 'en')).toBe('Region')
    expect(columnTitle('total_sales', known, 'en')).toBe('Total sales amount')
    expect(columnTitle('total_sales', knownZh, 'zh')).toBe('销售额总计')
    expect(columnTitle('avg_dep_delay', new Map(), 'en')).toBe('Average dep delay')
    expect(columnTitle('count', knownZh, 'zh')).toBe('数量')
  })
})

describe('chart options', () => {
  const spec: ChartSpec = { type: 'column', axis: { x: { value: 'region' }, y: [{ value: 'total_sales' }] } }
  const rows = Array.from({ length: 10 }, (_, i) => ({ region: `Region number ${i}`, total_sales: 100 + i }))

  it('keeps every category label (turned when they crowd) and uses the localized titles', () => {
    const o = chartOption(spec, rows, { region: '地区', total_sales: '销售额总计' }) as any
    expect(o.xAxis.axisLabel.interval).toBe(0)
    expect(o.xAxis.axisLabel.rotate).toBeGreaterThan(0)
    expect(o.xAxis.name).toBe('地区')
    expect(o.yAxis.name).toBe('销售额总计')
    expect(o.grid.containLabel).toBe(true)
  })

  it('offers only the types that fit', () => {
    expect(fittingTypes(spec, rows)).toEqual(['column', 'bar', 'line', 'pie'])
    expect(fittingTypes(spec, rows.slice(0, 2))).toEqual(['column', 'bar', 'pie'])
    const negative = rows.map((r, i) => ({ ...r, total_sales: i - 5 }))
    expect(fittingTypes(spec, negative)).not.toContain('pie')
    expect(fittingTypes(spec, [...rows, ...rows.map((r) => ({ ...r, region: r.region + 'b' }))])).not.toContain('pie')
  })

  it('draws the chosen type', () => {
    expect((chartOption(spec, rows, {}, 'pie') as any).series[0].type).toBe('pie')
    expect((chartOption(spec, rows, {}, 'bar') as any).yAxis.type).toBe('category')
  })
})
