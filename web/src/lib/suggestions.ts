/**
 * Follow-up questions under an answer, written offline from the result and the datasource's schema: the
 * same measure by another dimension (drill down), over time, and the top and bottom few. Phrased the way
 * the offline writer understands (column names or their short descriptions).
 */
import type { DatasourceSchema } from '@/api/client'

type Lang = 'zh' | 'en'
type Row = Record<string, unknown>
interface Col {
  name: string
  type: string
  desc: string
  distinct: number | null
}

const TIME = /^(date|month|year|day|week|quarter|time_hour|order_date|ship_date)$|_(date|time|at)$/i
const isNumber = (v: unknown) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)))

export function suggestFollowUps(opts: {
  question: string
  columns: string[]
  rows: Row[]
  chart?: { axis?: { x?: { value?: string }; y?: { value?: string } | { value?: string }[] } } | null
  schema?: DatasourceSchema
  lang: Lang
}): string[] {
  const { columns, rows, lang } = opts
  if (!rows.length || !columns.length) return []
  const y = opts.chart?.axis?.y
  const measureCol = (Array.isArray(y) ? y[0]?.value : y?.value) ?? columns.find((c) => rows.every((r) => r[c] == null || isNumber(r[c])))
  if (!measureCol) return []
  const dimCol = opts.chart?.axis?.x?.value ?? columns.find((c) => c !== measureCol && !rows.every((r) => isNumber(r[c])))
  const m = measureCol.toLowerCase().match(/^(total|sum|avg|average|count)_(.+)$/)
  const agg = m?.[1] ?? (measureCol.toLowerCase().includes('count') ? 'count' : 'total')
  const base = m?.[2] ?? measureCol

  // the table the measure comes from, and its columns
  const tables = opts.schema?.tables ?? []
  const table = tables.find((t) => t.columns.some((c) => c.name.toLowerCase() === base.toLowerCase())) ?? tables[0]
  const cols: Col[] = (table?.columns ?? []).map((c) => ({
    name: c.name,
    type: c.type.toUpperCase(),
    desc: ((lang === 'zh' ? c.description_zh : c.description_en) || '').split(/[.;:。；：(（,，、]/)[0].trim(),
    distinct: c.distinct_count,
  }))
  const word = (name: string) => {
    const col = cols.find((c) => c.name.toLowerCase() === name.toLowerCase())
    return lang === 'zh' ? col?.desc || name : name.replace(/_/g, ' ')
  }
  const measure =
    agg === 'count'
      ? lang === 'zh' ? '数量' : 'number of rows'
      : lang === 'zh'
        ? `${agg.startsWith('av') ? '平均' : ''}${word(base)}`
        : `${agg.startsWith('av') ? 'average' : 'total'} ${word(base)}`

  const out: string[] = []
  const add = (q: string) => {
    if (q && q !== opts.question && !out.includes(q)) out.push(q)
  }
  if (dimCol && rows.length > 3) {
    const dim = word(dimCol)
    add(lang === 'zh' ? `${measure}最高的5个${dim}` : `Top 5 ${dim} by ${measure}`)
    add(lang === 'zh' ? `${measure}最低的5个${dim}` : `Bottom 5 ${dim} by ${measure}`)
  }
  const time = cols.find((c) => TIME.test(c.name) || /DATE|TIMESTAMP/.test(c.type))
  if (time && (!dimCol || !TIME.test(dimCol))) add(lang === 'zh' ? `每个月的${measure}` : `${measure} by month`)
  const others = cols.filter(
    (c) =>
      c.name !== dimCol &&
      c.name.toLowerCase() !== base.toLowerCase() &&
      /CHAR|TEXT|STRING/.test(c.type) &&
      !TIME.test(c.name) &&
      (c.distinct == null || (c.distinct >= 2 && c.distinct <= 60)),
  )
  for (const other of others.slice(0, 2)) add(lang === 'zh' ? `各${word(other.name)}的${measure}` : `${measure} by ${word(other.name)}`)
  return out.slice(0, 4)
}
