import { beforeEach, describe, expect, it } from 'vitest'
import { browserLocale, i18n } from '@/i18n'
import { forwardEstimate, HighWater, percent, timeProgress } from '@/lib/progress'
import { stepSummary } from '@/lib/summaries'
import { pendingStep } from '@/lib/run'

describe('progress', () => {
  it('time-based progress rises with time and never reaches 95', () => {
    const values = [0, 500, 1000, 2000, 10_000, 1e7].map((t) => timeProgress(t, 1000))
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1])
    expect(values.at(-1)).toBeLessThanOrEqual(95)
    expect(timeProgress(1000, 0)).toBe(0)
  })

  it('estimates only move forward and never fall below the time spent', () => {
    expect(forwardEstimate(undefined, 2000, 100)).toBe(2000)
    expect(forwardEstimate(2000, 1500, 100)).toBe(2000) // a smaller estimate later does not shrink it
    expect(forwardEstimate(2000, 2000, 3000)).toBeGreaterThan(3000) // past the estimate: a little more
    expect(forwardEstimate(undefined, undefined, 0)).toBeUndefined()
  })

  it('high-water marks never go back; the label value is a whole percentage', () => {
    const hw = new HighWater()
    expect(hw.next('a', 40)).toBe(40)
    expect(hw.next('a', 20)).toBe(40)
    expect(hw.next('a', 71.9)).toBe(71.9)
    expect(percent(71.9)).toBe(71)
    hw.reset()
    expect(hw.next('a', 10)).toBe(10)
  })
})

describe('browser language on a first visit', () => {
  it('takes the first Chinese or English entry', () => {
    expect(browserLocale(['en-US', 'zh-CN'])).toBe('en')
    expect(browserLocale(['fr-FR', 'zh-TW'])).toBe('zh-CN')
    expect(browserLocale(['de'])).toBe('zh-CN')
  })
})

describe('step summaries', () => {
  beforeEach(() => {
    i18n.global.locale.value = 'en'
  })
  const done = (name: string, data: unknown, summary = 'server summary') => ({
    ...pendingStep(STEP_IDS[name], 'en'),
    status: 'completed' as const,
    data,
    summary,
  })
  const STEP_IDS: Record<string, string> = {
    analyzing_question: 'step_001',
    select_datasource: 'step_002',
    connect_db: 'step_003',
    generate_sql: 'step_004',
    execute_query: 'step_005',
    configure_chart: 'step_006',
  }

  it('uses plural forms and no internal figures', () => {
    expect(stepSummary(done('execute_query', { rowCount: 1, elapsedMs: 12 }))).toBe('1 row in 12 ms')
    expect(stepSummary(done('execute_query', { rowCount: 2500, elapsedMs: 12 }))).toBe('2,500 rows in 12 ms')
    expect(stepSummary(done('connect_db', { tables: ['a'] }))).toBe('Connected read-only, 1 table')
    const chosen = stepSummary(done('select_datasource', { chosen: 'flights', datasource: { name: 'Flights' }, runnerUp: { name: 'Movies', score: 0 }, scores: [1, 0] }))
    expect(chosen).toBe('Chose Flights (the next best match was Movies)')
    expect(chosen).not.toMatch(/score|\d\.\d\d/)
    expect(stepSummary(done('generate_sql', { sql: 'SELECT 1', repair: false }))).toBe('SQL written')
    expect(stepSummary(done('configure_chart', { type: 'bar' }))).toBe('Drawn as a bar chart')
  })

  it('keeps the server summary when the data has another shape, and says nothing for a running step', () => {
    expect(stepSummary(done('connect_db', 'odd'))).toBe('server summary')
    expect(stepSummary({ ...done('connect_db', {}), status: 'running' })).toBeUndefined()
  })

  it('speaks Chinese', () => {
    i18n.global.locale.value = 'zh-CN'
    expect(stepSummary(done('execute_query', { rowCount: 3, elapsedMs: 12 }))).toBe('返回 3 行，耗时 12 毫秒')
  })
})
