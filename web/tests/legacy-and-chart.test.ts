import { describe, expect, it } from 'vitest'
import { useLegacyStreaming } from '@/composables/useLegacyStreaming'
import { chartOption, isDrawable } from '@/lib/chart'
import { fakeFetch, fixture, jsonResponse, sseResponse } from './helpers'

describe('useLegacyStreaming (enhanced streaming off)', () => {
  it('reads the simple stream and the record rows, and shows only the final answer', async () => {
    const recordId = JSON.parse(fixture('legacy.sse').split('\n')[0].slice(5)).id
    const { fetch, calls } = fakeFetch({
      'POST /api/chat/question': () => sseResponse(fixture('legacy.sse'), { headers: { 'X-Chat-Id': 'c9' } }),
      [`GET /api/chat/records/${recordId}/data`]: () => jsonResponse(JSON.parse(fixture('legacy-data.json'))),
    })
    const chats: string[] = []
    const s = useLegacyStreaming({ fetch, onChat: (id) => chats.push(id) })
    await s.startStreaming({ question: 'Profit by category', locale: 'en' })
    expect(calls[0].body).toMatchObject({ question: 'Profit by category', enhanced_streaming: false })
    expect(s.state.status).toBe('succeeded')
    expect(s.state.legacy).toBe(true)
    expect(s.state.steps).toEqual([])
    expect(s.state.output?.sql).toContain('SUM(profit)')
    expect(s.state.output?.columns).toEqual(['category', 'total_profit'])
    expect(s.state.output?.data).toHaveLength(3)
    expect((s.state.output?.chart as { type: string }).type).toBe('column')
    expect(chats).toEqual(['c9'])
  })

  it('an error frame fails the answer with its message', async () => {
    const body = 'data:{"type":"id","id":"r1"}\n\ndata:{"type":"error","content":"{\\"message\\": \\"no such table\\", \\"type\\": \\"exec-sql-err\\"}"}\n\n'
    const { fetch } = fakeFetch({ 'POST /api/chat/question': () => sseResponse(body) })
    const s = useLegacyStreaming({ fetch })
    await s.startStreaming({ question: 'q' })
    expect(s.state.status).toBe('failed')
    expect(s.state.error?.message).toBe('no such table')
  })
})

describe('chartOption', () => {
  const rows = [
    { region: 'East', year: 2020, sales: 10 },
    { region: 'West', year: 2020, sales: 20 },
    { region: 'East', year: 2021, sales: 15 },
  ]
  const axis = { x: { name: 'Region', value: 'region' }, y: [{ name: 'Sales', value: 'sales' }] }

  it('column: categories on x, values on y', () => {
    const o = chartOption({ type: 'column', axis }, rows) as any
    expect(o.xAxis.type).toBe('category')
    expect(o.xAxis.data).toEqual(['East', 'West'])
    expect(o.series[0].type).toBe('bar')
  })

  it('bar: horizontal', () => {
    const o = chartOption({ type: 'bar', axis }, rows) as any
    expect(o.yAxis.type).toBe('category')
    expect(o.xAxis.type).toBe('value')
  })

  it('a series field splits a long table into one series per value', () => {
    const o = chartOption({ type: 'line', axis: { ...axis, series: { value: 'year' } } }, rows) as any
    expect(o.series.map((s: any) => s.name)).toEqual(['2020', '2021'])
    expect(o.series[1].data).toEqual([15, null])
  })

  it('pie: names and values', () => {
    const o = chartOption({ type: 'pie', axis: { x: axis.x, y: axis.y } }, rows.slice(0, 2)) as any
    expect(o.series[0].data).toEqual([
      { name: 'East', value: 10 },
      { name: 'West', value: 20 },
    ])
  })

  it('a table chart or no rows draws nothing', () => {
    expect(isDrawable({ type: 'table', axis: {} }, rows)).toBe(false)
    expect(isDrawable({ type: 'column', axis }, [])).toBe(false)
    expect(isDrawable({ type: 'column', axis }, rows)).toBe(true)
  })
})
