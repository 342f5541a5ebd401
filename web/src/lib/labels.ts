/**
 * Column titles a person reads: a result column's description from the datasource's schema in the page's
 * language, or, for a computed column (total_sales, avg_dep_delay, count), a title built from the column
 * it was computed from. Schemas are fetched once per datasource and kept.
 */
import { api, type DatasourceSchema } from '@/api/client'

type Lang = 'zh' | 'en'
const schemas = new Map<string, Promise<DatasourceSchema | undefined>>()

/** The datasource's schema, fetched once (undefined when it cannot be read). */
export function schemaOf(datasourceId: string): Promise<DatasourceSchema | undefined> {
  const cached = schemas.get(datasourceId)
  if (cached) return cached
  const p = api.getDatasource(datasourceId).then(
    (d) => d.schema as unknown as DatasourceSchema,
    () => undefined,
  )
  schemas.set(datasourceId, p)
  return p
}

/** name (lower-case) -> description, over every table's columns. */
export function descriptions(schema: DatasourceSchema | undefined, lang: Lang): Map<string, string> {
  const out = new Map<string, string>()
  for (const table of schema?.tables ?? []) {
    for (const col of table.columns) {
      const text = (lang === 'zh' ? col.description_zh || col.description_en : col.description_en) || ''
      const short = text.split(/[.;:。；：(（,，、]/)[0].trim()
      if (short && !out.has(col.name.toLowerCase())) out.set(col.name.toLowerCase(), short)
    }
  }
  return out
}

const AGG: Record<string, { zh: (x: string) => string; en: (x: string) => string }> = {
  total: { zh: (x) => `${x}总计`, en: (x) => `Total ${lower(x)}` },
  sum: { zh: (x) => `${x}总计`, en: (x) => `Total ${lower(x)}` },
  avg: { zh: (x) => `平均${x}`, en: (x) => `Average ${lower(x)}` },
  average: { zh: (x) => `平均${x}`, en: (x) => `Average ${lower(x)}` },
  max: { zh: (x) => `最大${x}`, en: (x) => `Highest ${lower(x)}` },
  min: { zh: (x) => `最小${x}`, en: (x) => `Lowest ${lower(x)}` },
  count: { zh: (x) => `${x}数量`, en: (x) => `Number of ${lower(x)}` },
}
const lower = (s: string) => (/^[A-Z][a-z]/.test(s) ? s[0].toLowerCase() + s.slice(1) : s)
const humanize = (s: string) => {
  const words = s.replace(/_/g, ' ').trim()
  return words ? words[0].toUpperCase() + words.slice(1) : s
}

/** The title of result column `column`. */
export function columnTitle(column: string, known: Map<string, string>, lang: Lang): string {
  const key = column.toLowerCase()
  const direct = known.get(key)
  if (direct) return direct
  if (key === 'count' || key === 'n' || key === 'cnt') return lang === 'zh' ? '数量' : 'Count'
  const m = key.match(/^(total|sum|avg|average|max|min|count)_(.+)$/) ?? key.match(/^(.+)_(count)$/)
  if (m) {
    const [agg, base] = m[2] === 'count' && !AGG[m[1]] ? ['count', m[1]] : [m[1], m[2]]
    const baseTitle = known.get(base) ?? (lang === 'zh' ? base : humanize(base))
    return AGG[agg][lang](baseTitle)
  }
  return lang === 'zh' ? column : humanize(column)
}
