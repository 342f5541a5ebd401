import { describe, expect, it } from 'vitest'
import { applyEvent, newRun, overallProgress, prepareRetry } from '@/lib/run'
import { SequenceGate } from '@/lib/sequence'
import { events } from './helpers'

function replay(name: string, locale: 'zh' | 'en' = 'zh') {
  const state = newRun('q', locale)
  const progress: number[] = []
  for (const ev of events(name)) {
    applyEvent(state, ev)
    progress.push(overallProgress(state))
  }
  return { state, progress }
}

describe('applyEvent over recorded streams', () => {
  it('success: every step completes, progress only grows and reaches 100', () => {
    const { state, progress } = replay('success-zh.sse')
    expect(state.status).toBe('succeeded')
    expect(state.steps.map((s) => s.status)).toEqual(Array(7).fill('completed'))
    expect(progress.at(-1)).toBe(100)
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1])
    const sql = state.steps.find((s) => s.id === 'step_004')!
    expect(sql.output).toBe(state.output!.sql)
    expect(sql.outputKind).toBe('sql')
    expect(state.output!.data!.length).toBe(state.output!.rowCount)
    expect(state.steps[0].title).toBe('分析问题意图')
  })

  it('repair loop: SQL written twice, the first attempt and its failed run kept as history', () => {
    const { state } = replay('repair-loop.sse', 'en')
    expect(state.status).toBe('succeeded')
    const write = state.steps.find((s) => s.name === 'generate_sql')!
    const run = state.steps.find((s) => s.name === 'execute_query')!
    expect(write.attempt).toBe(2)
    expect(write.repair).toBe(true)
    expect(write.previous).toHaveLength(1)
    expect(write.previous[0].output).toContain('CAST(carrier AS INTEGER)')
    expect(write.output).toBe(state.output!.sql)
    expect(run.status).toBe('completed')
    expect(run.attempt).toBe(2)
    expect(overallProgress(state)).toBe(100)
  })

  it('during the repair the steps after the SQL wait again', () => {
    const state = newRun('q', 'en')
    for (const ev of events('repair-loop.sse')) {
      applyEvent(state, ev)
      if (ev.type === 'step_start' && ev.step.metadata?.repair && ev.step.id === 'step_004') break
    }
    expect(state.steps.find((s) => s.id === 'step_004')!.status).toBe('running')
    expect(state.steps.find((s) => s.id === 'step_005')!.status).toBe('pending')
    expect(state.steps.find((s) => s.id === 'step_005')!.previous).toHaveLength(1)
  })

  it('step error: the run fails at that step with a retryable error', () => {
    const { state } = replay('step-error.sse', 'en')
    expect(state.status).toBe('failed')
    expect(state.failedStepId).toBe('step_002')
    const failed = state.steps.find((s) => s.id === 'step_002')!
    expect(failed.status).toBe('error')
    expect(failed.error?.canRetry).toBe(true)
    expect(failed.error?.suggestion).toBeTruthy()
    expect(state.steps.slice(2).every((s) => s.status === 'pending')).toBe(true)
  })

  it('retry continues the same answer: reused steps, the failed one runs again', () => {
    const { state } = replay('step-error.sse', 'en')
    prepareRetry(state)
    expect(state.steps.find((s) => s.id === 'step_002')!.status).toBe('pending')
    expect(state.lastSequence).toBe(0)
    for (const ev of events('retry.sse')) applyEvent(state, ev)
    expect(state.status).toBe('succeeded')
    expect(state.steps[0].reused).toBe(true)
    expect(state.steps.find((s) => s.id === 'step_002')!.previous[0].error?.code).toBe('INTERNAL_ERROR')
    expect(overallProgress(state)).toBe(100)
  })

  it('cancel: the running step shows cancelled, the run is cancelled, not failed', () => {
    const { state } = replay('cancel.sse')
    expect(state.status).toBe('cancelled')
    expect(state.error?.code).toBe('CANCELLED')
    expect(state.steps.some((s) => s.status === 'cancelled')).toBe(true)
    expect(state.steps.some((s) => s.status === 'error')).toBe(false)
  })

  it('a skipped optional chart step counts as done', () => {
    const state = newRun('q', 'en')
    const evs = events('success-en.sse')
    for (const ev of evs) {
      if (ev.type === 'step_complete' && ev.stepId === 'step_006') {
        applyEvent(state, { ...ev, result: { ...ev.result, skipped: true } })
      } else applyEvent(state, ev)
      if (ev.type === 'step_complete' && ev.stepId === 'step_007') break
    }
    expect(state.steps.find((s) => s.id === 'step_006')!.skipped).toBe(true)
    expect(overallProgress(state)).toBe(99) // all done but no final event yet
    applyEvent(state, evs.at(-1)!)
    expect(overallProgress(state)).toBe(100)
  })
})

describe('SequenceGate', () => {
  it('drops duplicates, holds events after a gap and releases them in order', () => {
    const gate = new SequenceGate<{ sequence: number }>()
    const seqs = (xs: { sequence: number }[]) => xs.map((x) => x.sequence)
    expect(seqs(gate.accept({ sequence: 1 }))).toEqual([1])
    expect(seqs(gate.accept({ sequence: 1 }))).toEqual([])
    expect(seqs(gate.accept({ sequence: 3 }))).toEqual([])
    expect(gate.hasGap).toBe(true)
    expect(seqs(gate.accept({ sequence: 2 }))).toEqual([2, 3])
    expect(gate.hasGap).toBe(false)
    expect(gate.duplicates).toBe(1)
  })
})
