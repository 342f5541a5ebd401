/**
 * The state of one answer (a run) and how protocol events change it.
 *
 * Pure functions over a plain object, so the same code drives the live composable, the unit tests fed
 * with recorded streams and the rebuilding of past records. Event types come from the generated
 * `api/protocol.ts`; nothing here redefines the wire format.
 */
import type { ErrorInfo, FinalOutput, FinalSummary, ProtocolEvent } from '@/api/protocol'
import { STEPS } from '@/api/steps'
import type { RunLocale } from '@/i18n'

export type StepStatus = 'pending' | 'running' | 'completed' | 'error' | 'cancelled'
export type RunStatus = 'idle' | 'connecting' | 'running' | 'reconnecting' | 'succeeded' | 'failed' | 'cancelled'

/** An earlier attempt of a step that ran again (SQL repair, retry). */
export interface StepAttempt {
  attempt: number
  output: string
  reasoning: string
  error?: ErrorInfo
  /** The step's own one-line account (e.g. "query failed, sending it back for repair"). */
  summary?: string
  duration?: number
}

export interface StepState {
  id: string
  name: string
  title: string
  description: string
  optional: boolean
  status: StepStatus
  /** 0-100: measured when the server reports it, 100 when done. */
  progress: number
  /** True until the server reports measurable progress. */
  indeterminate: boolean
  /** What the step says it is doing now (step_progress.message). */
  message?: string
  /** Streamed visible text (the SQL, the explanation). */
  output: string
  /** sql | explanation | trace, from the content metadata. */
  outputKind?: string
  reasoning: string
  /** Epoch ms when the step started (from step.startTime). */
  startedAt?: number
  estimatedDuration?: number
  /** Measured duration in ms, once completed. */
  duration?: number
  summary?: string
  data?: unknown
  skipped: boolean
  cached: boolean
  reused: boolean
  attempt: number
  repair: boolean
  previous: StepAttempt[]
  error?: ErrorInfo
}

export interface RunState {
  runId?: string
  chatId?: string
  question: string
  locale: RunLocale
  status: RunStatus
  steps: StepState[]
  /** Last applied sequence of the current stream (0 before the first event). */
  lastSequence: number
  output?: FinalOutput
  summary?: Omit<FinalSummary, 'output'>
  /** The terminal error (stream_error, or a connection that could not be restored). */
  error?: ErrorInfo
  failedStepId?: string
  startedAt: number
  /** Duplicate events ignored and reconnections made: visible in tests and diagnostics. */
  duplicates: number
  reconnects: number
  /** Legacy (non-enhanced) answer: no steps, only the final answer. */
  legacy?: boolean
}

export function pendingStep(id: string, locale: RunLocale): StepState {
  const def = STEPS.find((s) => s.id === id)
  return {
    id,
    name: def?.name ?? id,
    title: def ? def.title[locale] : id,
    description: def ? def.description[locale] : '',
    optional: def?.optional ?? false,
    status: 'pending',
    progress: 0,
    indeterminate: true,
    output: '',
    reasoning: '',
    estimatedDuration: def?.defaultDurationMs,
    skipped: false,
    cached: false,
    reused: false,
    attempt: 1,
    repair: false,
    previous: [],
  }
}

export function newRun(question: string, locale: RunLocale): RunState {
  return {
    question,
    locale,
    status: 'idle',
    steps: STEPS.map((s) => pendingStep(s.id, locale)),
    lastSequence: 0,
    startedAt: Date.now(),
    duplicates: 0,
    reconnects: 0,
  }
}

export const isTerminal = (ev: ProtocolEvent): boolean => ev.type === 'final_complete' || ev.type === 'stream_error'
export const isFinished = (s: RunState): boolean =>
  s.status === 'succeeded' || s.status === 'failed' || s.status === 'cancelled'

function findStep(state: RunState, id: string): StepState {
  let step = state.steps.find((s) => s.id === id)
  if (!step) {
    step = pendingStep(id, state.locale)
    state.steps.push(step)
  }
  return step
}

function archive(step: StepState): void {
  if (step.status === 'pending' && !step.output && !step.error) return
  step.previous.push({
    attempt: step.attempt,
    output: step.output,
    reasoning: step.reasoning,
    error: step.error,
    summary: step.summary,
    duration: step.duration,
  })
}

function reset(step: StepState, status: StepStatus): void {
  step.status = status
  step.progress = 0
  step.indeterminate = true
  step.message = undefined
  step.output = ''
  step.outputKind = undefined
  step.reasoning = ''
  step.duration = undefined
  step.summary = undefined
  step.data = undefined
  step.error = undefined
  step.skipped = false
  step.cached = false
  step.reused = false
}

/** Apply one event, already in sequence order. */
export function applyEvent(state: RunState, ev: ProtocolEvent): void {
  state.lastSequence = ev.sequence
  if (ev.sessionId) state.runId = ev.sessionId
  if (!isFinished(state)) state.status = 'running'

  switch (ev.type) {
    case 'step_start': {
      const step = findStep(state, ev.step.id)
      const meta = ev.step.metadata ?? {}
      const reused = Boolean(meta.reused)
      if (step.status !== 'pending' && !reused) archive(step)
      if (meta.repair) {
        // The SQL is being written again: the steps after this one will run again too.
        const index = state.steps.indexOf(step)
        for (const later of state.steps.slice(index + 1)) {
          if (later.status !== 'pending') {
            archive(later)
            reset(later, 'pending')
          }
        }
      }
      reset(step, 'running')
      step.title = ev.step.title
      step.description = ev.step.description
      step.startedAt = Date.parse(ev.step.startTime) || Date.now()
      step.estimatedDuration = ev.step.estimatedDuration ?? step.estimatedDuration
      step.attempt = typeof meta.attempt === 'number' ? meta.attempt : step.previous.length + 1
      step.repair = Boolean(meta.repair)
      step.reused = reused
      if (typeof meta.optional === 'boolean') step.optional = meta.optional
      break
    }
    case 'step_progress': {
      const step = findStep(state, ev.stepId)
      if (step.status === 'pending') step.status = 'running'
      if (typeof ev.progress === 'number') {
        step.progress = Math.max(0, Math.min(100, ev.progress))
        step.indeterminate = false
      }
      if (ev.message) step.message = ev.message
      break
    }
    case 'step_content': {
      const step = findStep(state, ev.stepId)
      if (step.status === 'pending') step.status = 'running'
      if (ev.content.text) step.output += ev.content.text
      if (ev.content.reasoning) step.reasoning += ev.content.reasoning
      const kind = ev.content.metadata?.kind
      if (typeof kind === 'string') step.outputKind = kind
      break
    }
    case 'step_complete': {
      const step = findStep(state, ev.stepId)
      step.status = 'completed'
      step.progress = 100
      step.indeterminate = false
      step.duration = ev.result.duration
      step.summary = ev.result.summary
      step.data = ev.result.data
      step.skipped = Boolean(ev.result.skipped)
      step.cached = Boolean(ev.result.cached)
      step.reused = Boolean(ev.result.reused) || step.reused
      step.error = undefined
      if (step.name === 'generate_sql') {
        // The streamed text is the writer's raw output (a model may wrap it in a ``` fence); the
        // completed step carries the SQL that will actually run.
        const sql = sqlOf(ev.result.data)
        if (sql) {
          step.output = sql
          step.outputKind = 'sql'
        }
      }
      break
    }
    case 'step_error': {
      const step = findStep(state, ev.stepId)
      // A step stopped by a cancel did not fail: it shows as cancelled, without an error to retry.
      if (ev.error.code === 'CANCELLED') {
        step.status = 'cancelled'
      } else {
        step.status = 'error'
        step.error = ev.error
      }
      break
    }
    case 'final_complete': {
      const { output, ...totals } = ev.summary
      state.output = output
      state.summary = totals
      state.status = 'succeeded'
      state.error = undefined
      state.failedStepId = undefined
      for (const step of state.steps) {
        // A step that never ran in a successful answer was not needed (the optional chart step).
        if (step.status === 'pending' || step.status === 'running') {
          step.skipped = step.skipped || step.status === 'pending'
          step.status = 'completed'
          step.progress = 100
          step.indeterminate = false
        }
      }
      break
    }
    case 'stream_error': {
      state.error = ev.error
      state.failedStepId = ev.stepId ?? undefined
      const cancelled = ev.error.code === 'CANCELLED'
      state.status = cancelled ? 'cancelled' : 'failed'
      for (const step of state.steps) {
        if (step.status !== 'running') continue
        step.status = cancelled ? 'cancelled' : 'error'
        if (!cancelled) step.error = step.error ?? ev.error
      }
      if (ev.stepId && !cancelled) {
        const step = findStep(state, ev.stepId)
        if (step.status !== 'error') {
          step.status = 'error'
          step.error = ev.error
        }
      }
      break
    }
  }
}

function sqlOf(data: unknown): string | undefined {
  if (typeof data === 'string') return data
  if (data && typeof data === 'object' && typeof (data as { sql?: unknown }).sql === 'string') {
    return (data as { sql: string }).sql
  }
  return undefined
}

/** Mark the run cancelled locally (the request was aborted before the server said so). */
export function markCancelled(state: RunState, error: ErrorInfo): void {
  state.status = 'cancelled'
  state.error = error
  for (const step of state.steps) if (step.status === 'running') step.status = 'cancelled'
}

/** Get ready for a retry stream: the failed step (and anything cancelled) waits again. */
export function prepareRetry(state: RunState): void {
  for (const step of state.steps) {
    if (step.status === 'error' || step.status === 'cancelled') {
      archive(step)
      reset(step, 'pending')
    }
  }
  state.status = 'connecting'
  state.error = undefined
  state.failedStepId = undefined
  state.output = undefined
  state.summary = undefined
  // The retry stream numbers its events from 1 again.
  state.lastSequence = 0
}

/** Overall progress 0-100: done steps (a skipped step counts as done) plus the running step's share. */
export function overallProgress(state: RunState): number {
  if (state.status === 'succeeded') return 100
  const total = state.steps.length || 1
  let done = 0
  for (const step of state.steps) {
    if (step.status === 'completed') done += 1
    else if (step.status === 'running' && !step.indeterminate) done += step.progress / 100
  }
  return Math.min(99, Math.round((done / total) * 100))
}

export function completedCount(state: RunState): number {
  return state.steps.filter((s) => s.status === 'completed').length
}
