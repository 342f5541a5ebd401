import { describe, expect, it, beforeEach } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { computed, reactive } from 'vue'
import { i18n } from '@/i18n'
import StepProgress from '@/components/StepProgress.vue'
import ErrorDisplay from '@/components/ErrorDisplay.vue'
import EnhancedChatMessage from '@/components/EnhancedChatMessage.vue'
import { applyEvent, newRun, overallProgress, type RunState } from '@/lib/run'
import { DEFAULT_STREAMING_CONFIG } from '@/composables/useStreamingConfig'
import type { AnswerRun } from '@/lib/answer'
import { events } from './helpers'
import type { ProtocolEvent } from '@/api/protocol'

const global = { plugins: [i18n] }

function stateAfter(name: string, stop?: (ev: ProtocolEvent) => boolean): RunState {
  const state = reactive(newRun('q', 'zh')) as RunState
  for (const ev of events(name)) {
    if (stop?.(ev)) break
    applyEvent(state, ev)
  }
  return state
}

/** Stop while the SQL is being written: its text has streamed, the step has not completed. */
const midSql = () => (ev: ProtocolEvent) => ev.type === 'step_complete' && ev.stepId === 'step_004'

function progressProps(state: RunState) {
  return {
    steps: state.steps,
    overallProgress: overallProgress(state),
    overallTitle: 'title',
    isCompleted: ['succeeded', 'failed', 'cancelled'].includes(state.status),
    status: state.status,
  }
}

beforeEach(() => {
  i18n.global.locale.value = 'zh-CN'
})

describe('StepProgress', () => {
  it('shows each step with its status tag while an answer streams', () => {
    // Stop in the middle of writing the SQL.
    const state = stateAfter('success-zh.sse', midSql())
    const w = mount(StepProgress, { props: progressProps(state), global })
    const tags = w.findAll('[data-testid="step-tag"]').map((t) => t.text())
    expect(tags.slice(0, 3)).toEqual(['已完成', '已完成', '已完成'])
    expect(tags[3]).toBe('执行中')
    expect(tags.slice(4)).toEqual(['等待中', '等待中', '等待中'])
    expect(w.find('[data-testid="current-step"]').text()).toContain('生成SQL')
    // The SQL streams into the open step, highlighted.
    expect(w.find('[data-step="step_004"] .hljs-keyword').exists()).toBe(true)
    expect(w.find('[data-testid="cancel"]').attributes('disabled')).toBeUndefined()
  })

  it('reaches 100% and offers no cancel when the answer is done', () => {
    const state = stateAfter('success-zh.sse')
    const w = mount(StepProgress, { props: progressProps(state), global })
    expect(w.find('[data-testid="overall-progress"]').attributes('aria-valuenow')).toBe('100')
    expect(w.find('[data-testid="overall-progress"]').text()).toBe('100%') // the label is the bar's value
    expect(w.find('[data-testid="cancel"]').exists()).toBe(false)
    expect(w.find('[data-testid="current-step"]').exists()).toBe(false)
  })

  it('a failed step: 失败 tag; the error is said once, by ErrorDisplay, not again in the list', () => {
    const state = stateAfter('step-error.sse')
    const w = mount(StepProgress, { props: progressProps(state), global })
    expect(w.find('[data-step="step_002"] [data-testid="step-tag"]').text()).toBe('失败')
    expect(w.find('.el-alert').exists()).toBe(false)
    expect(w.find('[data-testid="retry-failed"]').exists()).toBe(false)
    expect(w.find('[data-testid="cancel"]').exists()).toBe(false)
  })

  it('the overall bar never goes back when a repair sends the SQL step round again', async () => {
    const state = reactive(stateAfter('success-zh.sse', midSql())) as RunState
    const w = mount(StepProgress, { props: progressProps(state), global })
    const value = () => Number(w.find('[data-testid="overall-progress"]').attributes('aria-valuenow'))
    const before = value()
    expect(before).toBeGreaterThan(40)
    // A repair: the later steps go back to pending and the SQL step runs again from 0.
    const sql = state.steps[3]
    Object.assign(sql, { status: 'running', progress: 0, indeterminate: true, startedAt: Date.now() })
    state.steps[2].status = 'pending'
    await w.setProps(progressProps(state))
    expect(value()).toBeGreaterThanOrEqual(before)
  })

  it('mounts the details of a step when it first opens, and keeps them when it closes', async () => {
    const state = stateAfter('success-zh.sse')
    const w = mount(StepProgress, { props: progressProps(state), global })
    const step = () => w.find('[data-step="step_001"]')
    expect(step().classes()).not.toContain('is-open')
    expect(step().find('.step-details').exists()).toBe(false) // closed and never opened: only its title row
    await step().find('.step-head').trigger('click')
    expect(step().classes()).toContain('is-open')
    expect(step().find('.step-head').attributes('aria-expanded')).toBe('true')
    expect(step().find('.step-details').exists()).toBe(true)
    await step().find('.step-head').trigger('keydown', { key: 'Enter' })
    expect(step().classes()).not.toContain('is-open')
    expect(step().find('.step-details').exists()).toBe(true) // kept, so that closing animates
  })

  it('with deferList, the step list mounts a task after the card', async () => {
    const w = mount(StepProgress, { props: { ...progressProps(reactive(newRun('q', 'zh')) as RunState), deferList: true }, global })
    expect(w.find('[data-step]').exists()).toBe(false)
    expect(w.find('.step-list-pending').exists()).toBe(true) // holds the list's height meanwhile
    await new Promise((resolve) => setTimeout(resolve, 0))
    await flushPromises()
    expect(w.findAll('[data-step]')).toHaveLength(7)
  })

  it('hides and shows the step list', async () => {
    const state = stateAfter('success-zh.sse')
    const w = mount(StepProgress, { props: progressProps(state), global })
    expect(w.find('.step-list').exists()).toBe(true)
    await w.find('[data-testid="toggle-details"]').trigger('click')
    expect(w.find('.step-list').exists()).toBe(false)
    expect(w.emitted('toggleDetails')).toEqual([[false]])
  })

  it('speaks English when the locale is en', () => {
    i18n.global.locale.value = 'en'
    const state = stateAfter('success-zh.sse', midSql())
    const w = mount(StepProgress, { props: progressProps(state), global })
    const tags = w.findAll('[data-testid="step-tag"]').map((t) => t.text())
    expect(tags).toContain('Running')
    expect(tags).toContain('Pending')
    expect(w.text()).toContain('Hide details')
  })
})

describe('ErrorDisplay', () => {
  const error = {
    code: 'SQL_EXECUTION_FAILED' as const,
    title: 'SQL执行失败',
    message: '数据库无法执行该查询。',
    suggestion: '换一种问法再试',
    canRetry: true,
    detail: 'Conversion Error',
    level: 'error' as const,
    stepId: 'step_005',
  }

  it('step error: title, message, suggestion, retry with loading, technical details', async () => {
    const w = mount(ErrorDisplay, { props: { stepError: error, retrying: true }, global })
    expect(w.text()).toContain('SQL执行失败')
    expect(w.find('[data-testid="error-suggestion"]').text()).toBe('建议：换一种问法再试')
    const retry = w.find('[data-testid="retry-step"]')
    expect(retry.classes()).toContain('is-loading')
    await w.setProps({ retrying: false })
    await retry.trigger('click')
    expect(w.emitted('retry')).toEqual([['step_005']])
    await w.findAll('button').find((b) => b.text() === '技术细节')!.trigger('click')
    expect(w.find('.error-traceback').text()).toContain('Conversion Error')
  })

  it('no retry button when the error cannot be retried', () => {
    const w = mount(ErrorDisplay, { props: { stepError: { ...error, canRetry: false } }, global })
    expect(w.find('[data-testid="retry-step"]').exists()).toBe(false)
  })

  it('global error: a result page with retry, and no second start-over button (Regenerate is below)', async () => {
    const w = mount(ErrorDisplay, { props: { globalError: { ...error, code: 'NETWORK_ERROR' as const } }, global })
    expect(w.find('.el-result').exists()).toBe(true)
    expect(w.find('[data-testid="restart"]').exists()).toBe(false)
    await w.find('[data-testid="retry-global"]').trigger('click')
    expect(w.emitted('retry')).toHaveLength(1)
  })
})

function fakeRun(state: RunState): AnswerRun {
  return {
    state,
    isStreaming: computed(() => false),
    isCompleted: computed(() => true),
    overallProgress: computed(() => overallProgress(state)),
    overallTitle: computed(() => '处理完成'),
    cancelStreaming: async () => {},
    regenerate: async () => {},
    retryStep: async () => {},
  }
}

describe('EnhancedChatMessage', () => {
  const config = { ...DEFAULT_STREAMING_CONFIG }
  const message = { id: 'm1', role: 'assistant' as const, content: '', timestamp: 0 }

  it('a finished answer: status tag, explanation, table with pagination, SQL, regenerate and copy', async () => {
    const state = stateAfter('success-en.sse')
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    await flushPromises()
    expect(w.find('[data-testid="message-status"]').text()).toBe('已完成')
    expect(w.find('[data-testid="explanation"]').text()).toContain('12')
    expect(w.find('[data-testid="result-table"]').exists()).toBe(true)
    expect(w.find('[data-testid="result-table"]').text()).toContain('共 12 行')
    expect(w.find('.el-pagination').exists()).toBe(true)
    expect(w.find('[data-testid="truncated-note"]').exists()).toBe(false)
    await w.find('[data-testid="copy"]').trigger('click')
    expect(String(w.emitted('copy')![0][0])).toContain('```sql')
    await w.find('[data-testid="regenerate"]').trigger('click')
    expect(w.emitted('regenerate')).toEqual([['m1']])
  })

  it('shows the interpretation readback above the result when the answer carries one', async () => {
    const state = stateAfter('success-en.sse')
    const plain = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    expect(plain.find('[data-testid="interpretation"]').exists()).toBe(false)
    state.output = { ...state.output!, interpretation: 'flights per month in 2013, from the earlier question' } as typeof state.output
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    const box = w.find('[data-testid="interpretation"]')
    expect(box.text()).toContain('flights per month in 2013')
    // above the explanation and the table
    const html = w.html()
    expect(html.indexOf('data-testid="interpretation"')).toBeLessThan(html.indexOf('data-testid="explanation"'))
  })

  it('a cancelled answer is a quiet note with Continue, not an error, and offers no cancel', () => {
    const state = stateAfter('cancel.sse')
    state.runId = state.runId ?? 'r1'
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    expect(w.find('[data-testid="cancelled-note"]').exists()).toBe(true)
    expect(w.find('[data-testid="resume"]').exists()).toBe(true)
    expect(w.find('[data-testid="step-error"]').exists()).toBe(false)
    expect(w.find('[data-testid="global-error"]').exists()).toBe(false)
    expect(w.find('[data-testid="cancel"]').exists()).toBe(false)
  })

  it('says when the server capped the rows', async () => {
    const state = stateAfter('success-en.sse')
    state.output = { ...state.output!, truncated: true, rowCount: 5000 }
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    expect(w.find('[data-testid="truncated-note"]').text()).toContain('5000')
  })

  it('a failed answer shows the step error with its suggestion and a retry', () => {
    const state = stateAfter('step-error.sse')
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    expect(w.find('[data-testid="message-status"]').text()).toBe('错误')
    expect(w.find('[data-testid="step-error"]').exists()).toBe(true)
    expect(w.find('[data-testid="error-suggestion"]').exists()).toBe(true)
    expect(w.find('[data-testid="retry-step"]').exists()).toBe(true)
  })

  it('no retry button when retry is switched off in the settings', () => {
    const state = stateAfter('step-error.sse')
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config: { ...config, enableRetry: false } }, global })
    expect(w.find('[data-testid="retry-step"]').exists()).toBe(false)
  })

  it('shows reasoning only when the setting asks for it', async () => {
    const state = stateAfter('repair-loop.sse', midSql())
    const w = mount(EnhancedChatMessage, { props: { message, run: fakeRun(state), config }, global })
    expect(w.find('[data-testid="step-reasoning"]').exists()).toBe(false)
    await w.setProps({ config: { ...config, showReasoning: true } })
    expect(w.find('[data-testid="step-reasoning"]').exists()).toBe(true)
  })

  it('a user message is a bubble with the question', () => {
    const w = mount(EnhancedChatMessage, {
      props: { message: { id: 'u', role: 'user', content: '每个月的航班数量', timestamp: 0 }, config },
      global,
    })
    expect(w.find('[data-testid="user-question"]').text()).toBe('每个月的航班数量')
  })
})
