import { describe, expect, it } from 'vitest'
import { suggestFollowUps } from '@/lib/suggestions'

const schema = {
  datasource_id: 'superstore', description_en: '', description_zh: '', dialect: 'duckdb' as const, version: 'v',
  tables: [{
    name: 'superstore', description_en: '', description_zh: '', row_count: 10,
    columns: [
      { name: 'region', type: 'VARCHAR', description_en: 'Region', description_zh: '地区', distinct_count: 4, primary_key: false, sample_values: [] },
      { name: 'segment', type: 'VARCHAR', description_en: 'Customer segment', description_zh: '客户细分', distinct_count: 3, primary_key: false, sample_values: [] },
      { name: 'order_date', type: 'DATE', description_en: 'Order date', description_zh: '下单日期', distinct_count: 900, primary_key: false, sample_values: [] },
      { name: 'sales', type: 'DOUBLE', description_en: 'Sales', description_zh: '销售额', distinct_count: 900, primary_key: false, sample_values: [] },
    ],
  }],
}
const rows = ['East', 'West', 'South', 'Central'].map((region, i) => ({ region, total_sales: 100 * i }))

describe('follow-up questions', () => {
  it('top/bottom, over time and drill down, from the result and the schema', () => {
    const en = suggestFollowUps({ question: 'Total sales by region', columns: ['region', 'total_sales'], rows, schema: schema as never, lang: 'en' })
    expect(en).toEqual(['Top 5 region by total sales', 'Bottom 5 region by total sales', 'total sales by month', 'total sales by segment'])
    const zh = suggestFollowUps({ question: '各地区的销售额', columns: ['region', 'total_sales'], rows, schema: schema as never, lang: 'zh' })
    expect(zh).toContain('各客户细分的销售额')
    expect(zh).toContain('每个月的销售额')
  })

  it('nothing for an empty result', () => {
    expect(suggestFollowUps({ question: 'q', columns: ['a'], rows: [], lang: 'en' })).toEqual([])
  })
})
