/** A stored record (GET /api/chats/{id}) as the same answer state a live run has. */
import type { ErrorInfo, RecordOut } from '@/api/protocol'
import type { RunLocale } from '@/i18n'
import { newRun, type RunState, type RunStatus } from './run'

const STATUS: Record<string, RunStatus> = {
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  interrupted: 'failed',
  running: 'running',
}

export function runFromRecord(r: RecordOut, fallbackLocale: RunLocale): RunState {
  const locale: RunLocale = r.locale === 'en' || r.locale === 'zh' ? r.locale : fallbackLocale
  const state = newRun(r.question, locale)
  state.runId = r.id
  state.chatId = r.chatId
  state.status = STATUS[r.status] ?? 'failed'
  state.startedAt = r.createdAt * 1000
  const error = r.error as ErrorInfo | null
  for (const s of r.steps) {
    const step = state.steps.find((x) => x.id === s.stepId)
    if (!step) continue
    step.duration = s.duration ?? undefined
    step.reused = s.reused
    if (s.status === 'completed' || s.status === 'skipped') {
      step.status = 'completed'
      step.skipped = s.status === 'skipped'
      step.progress = 100
      step.indeterminate = false
    } else if (s.status === 'error' && (state.status === 'cancelled' || error?.code === 'CANCELLED')) {
      step.status = 'cancelled' // stopped, not failed
    } else if (s.status === 'error') {
      step.status = 'error'
      step.error = error ?? undefined
    } else if (s.status === 'running') {
      step.status = state.status === 'cancelled' ? 'cancelled' : state.status === 'running' ? 'running' : 'error'
    }
  }
  const sqlStep = state.steps.find((s) => s.name === 'generate_sql')
  if (sqlStep && r.sql) {
    sqlStep.output = r.sql
    sqlStep.outputKind = 'sql'
  }
  if (state.status === 'succeeded') {
    for (const step of state.steps) {
      if (step.status === 'pending') {
        step.status = 'completed'
        step.skipped = true
      }
    }
  }
  if (error && state.status !== 'succeeded') {
    state.error = error
    state.failedStepId = r.failedStep ?? undefined
    const failed = r.failedStep ? state.steps.find((s) => s.id === r.failedStep) : undefined
    if (failed && error.code !== 'CANCELLED') {
      failed.status = 'error'
      failed.error = error
    }
  }
  const columns = r.columns ?? []
  const preview = r.preview ?? []
  state.output = {
    sql: r.sql ?? undefined,
    columns,
    data: preview.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]]))),
    rowCount: r.rowCount ?? preview.length,
    truncated: r.truncated ?? false,
    chart: r.chart ?? undefined,
    explanation: r.explanation ?? undefined,
    datasource: r.datasource ?? undefined,
  }
  const total = (r.timings as { total?: number }).total
  if (typeof total === 'number') {
    state.summary = {
      totalDuration: total,
      completedSteps: state.steps.filter((s) => s.status === 'completed').length,
      failedSteps: state.steps.filter((s) => s.status === 'error').length,
      skippedSteps: state.steps.filter((s) => s.skipped).length,
    }
  }
  return state
}
