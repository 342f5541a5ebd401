/**
 * A finished step's one-line account in the page's language, written from the step's data (what it found)
 * rather than the server's log-style summary; plurals go through vue-i18n's plural forms. A step whose data
 * does not have the expected shape keeps the server's summary.
 */
import { formatDuration, i18n } from '@/i18n'
import type { StepState } from './run'

type Data = Record<string, unknown>
const t = (key: string, named: Record<string, unknown> = {}, plural?: number): string =>
  plural === undefined ? i18n.global.t(key, named) : i18n.global.t(key, named, plural)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const obj = (v: unknown): Data | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Data) : undefined)
const nameOf = (v: unknown): string | undefined => {
  const o = obj(v)
  if (!o) return undefined
  const zh = i18n.global.locale.value !== 'en'
  const name = (zh && (o.nameZh ?? o.name_zh)) || o.name || o.id
  return typeof name === 'string' ? name : undefined
}

export function stepSummary(step: StepState): string | undefined {
  if (step.status !== 'completed') return undefined
  if (step.skipped) return step.summary || t('summary.skipped')
  const data = obj(step.data)
  if (!data) return step.summary
  switch (step.name) {
    case 'analyzing_question': {
      const terms = Array.isArray(data.terms) ? data.terms.length : undefined
      if (terms === undefined) break
      const language = t(data.language === 'zh' ? 'summary.chinese' : 'summary.english')
      return t('summary.understood', { language, n: terms }, terms)
    }
    case 'select_datasource': {
      const name = nameOf(data.datasource) ?? (typeof data.chosen === 'string' ? data.chosen : undefined)
      if (!name) break
      const runnerUp = nameOf(data.runnerUp)
      const scores = Array.isArray(data.scores) ? data.scores.length : 0
      if (!scores && !runnerUp) return t('summary.datasourceGiven', { name })
      return runnerUp ? t('summary.datasourceChosenOver', { name, other: runnerUp }) : t('summary.datasourceChosen', { name })
    }
    case 'connect_db': {
      const tables = Array.isArray(data.tables) ? data.tables.length : undefined
      if (tables === undefined) break
      return t('summary.connected', { n: tables }, tables)
    }
    case 'generate_sql': {
      if (typeof data.sql !== 'string') break
      return data.repair ? t('summary.sqlRepaired') : t('summary.sqlWritten')
    }
    case 'execute_query': {
      const repair = num(data.repair)
      if (repair !== undefined) return t('summary.queryRepair', { n: repair })
      const rows = num(data.rowCount)
      if (rows === undefined) break
      const time = formatDuration(num(data.elapsedMs))
      const text = t('summary.rows', { n: rows.toLocaleString(), time }, rows)
      return data.truncated ? `${text} ${t('summary.truncated')}` : text
    }
    case 'configure_chart': {
      const type = typeof data.type === 'string' ? data.type : undefined
      if (!type) break
      return t('summary.chart', { type: t(`chart.types.${type}`) })
    }
    case 'present_result':
      return t('summary.answered')
  }
  return step.summary
}
