/**
 * One answer's live state, fed by the step-streaming SSE API.
 *
 * POSTs the question and reads the stream with @microsoft/fetch-event-source; applies events in
 * `sequence` order (duplicates ignored, gaps replayed); after a dropped connection resumes from the
 * server's replay endpoint with `Last-Event-ID`; cancels through the cancel endpoint; retries a failed
 * step through the retry endpoint, which continues the same answer in place.
 */
import { computed, reactive, shallowRef } from 'vue'
import { fetchEventSource, type EventSourceMessage } from '@microsoft/fetch-event-source'
import type { ErrorInfo, ProtocolEvent, QuestionRequest, RetryRequest } from '@/api/protocol'
import { ApiError, errorFrom, type FetchLike } from '@/api/http'
import { authFetch } from '@/api/auth'
import { i18n, type RunLocale } from '@/i18n'
import {
  applyEvent,
  completedCount,
  isFinished,
  isTerminal,
  markCancelled,
  newRun,
  overallProgress as progressOf,
  prepareRetry,
  type RunState,
} from '@/lib/run'
import { SequenceGate } from '@/lib/sequence'

export type { QuestionRequest }

export interface StreamingOptions {
  /** Prefix of the API (tests and `vite dev` use ''). */
  baseUrl?: string
  fetch?: FetchLike
  /** Reconnection after a dropped stream: attempts and the first delay (doubling each time). */
  maxReconnects?: number
  reconnectDelay?: number
  /** Adopt an existing state (a past record) instead of starting empty. */
  initial?: RunState
  /** Told about every applied event (the chat page learns the chat id from it). */
  onEvent?: (ev: ProtocolEvent) => void
  /** Told when the server says which chat the run belongs to (X-Chat-Id response header). */
  onChat?: (chatId: string) => void
}

interface Connection {
  url: string
  method: 'GET' | 'POST'
  body?: unknown
  headers?: Record<string, string>
}

type Outcome = 'terminal' | 'dropped' | 'gap' | 'aborted'

class StopStream extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function t(key: string, values?: Record<string, unknown>): string {
  return values ? i18n.global.t(key, values) : i18n.global.t(key)
}

function networkError(detail?: string): ErrorInfo {
  return {
    code: 'NETWORK_ERROR',
    title: t('error.network'),
    message: t('error.networkMessage'),
    suggestion: t('error.networkSuggestion'),
    canRetry: true,
    level: 'error',
    detail,
  }
}

function httpError(err: ApiError): ErrorInfo {
  return {
    code: 'INTERNAL_ERROR',
    title: t('error.httpTitle'),
    message: err.message,
    canRetry: err.status >= 500,
    level: 'error',
    detail: `${err.status} ${err.code}${err.detail ? `\n${JSON.stringify(err.detail, null, 2)}` : ''}`,
  }
}

function cancelledError(): ErrorInfo {
  return {
    code: 'CANCELLED',
    title: t('error.cancelledTitle'),
    message: t('error.cancelledMessage'),
    canRetry: false,
    level: 'warning',
  }
}

export function useEnhancedStreaming(options: StreamingOptions = {}) {
  const base = options.baseUrl ?? ''
  const doFetch: FetchLike = options.fetch ?? authFetch
  const maxReconnects = options.maxReconnects ?? 4
  const reconnectDelay = options.reconnectDelay ?? 500

  const state = reactive<RunState>(options.initial ?? newRun('', 'zh')) as RunState
  const gate = new SequenceGate<ProtocolEvent>(state.lastSequence)
  const controller = shallowRef<AbortController | null>(null)
  const busy = shallowRef(false)
  let userAborted = false
  let lastRequest: QuestionRequest | undefined

  const overallProgress = computed(() => progressOf(state))
  const isCompleted = computed(() => isFinished(state))
  const isStreaming = computed(() => busy.value && !isFinished(state))
  const currentStep = computed(() => state.steps.find((s) => s.status === 'running'))
  const hasFailedSteps = computed(() => state.steps.some((s) => s.status === 'error'))
  const canRetry = computed(() => state.status === 'failed' && (state.error?.canRetry ?? false) && !!state.runId)
  const overallTitle = computed(() => {
    switch (state.status) {
      case 'idle':
        return t('progress.preparing')
      case 'connecting':
        return t('progress.started')
      case 'reconnecting':
        return t('progress.reconnecting')
      case 'succeeded':
        return t('progress.done')
      case 'failed':
        return t('progress.failed')
      case 'cancelled':
        return t('progress.cancelled')
      default: {
        const step = currentStep.value
        return step ? t('progress.running', { step: step.title }) : t('progress.started')
      }
    }
  })

  function handle(msg: EventSourceMessage, ctrl: AbortController, result: { outcome?: Outcome }): void {
    if (!msg.data) return
    let ev: ProtocolEvent
    try {
      ev = JSON.parse(msg.data) as ProtocolEvent
    } catch {
      return // a malformed frame is not worth failing the answer for
    }
    if (typeof ev.sequence !== 'number' && msg.id) ev.sequence = Number(msg.id)
    for (const ready of gate.accept(ev)) {
      applyEvent(state, ready)
      options.onEvent?.(ready)
      if (isTerminal(ready)) {
        result.outcome = 'terminal'
        ctrl.abort()
        return
      }
    }
    state.duplicates = gate.duplicates
    if (gate.hasGap) {
      // An event is missing from this stream: ask the server to replay from the last one applied.
      result.outcome = 'gap'
      ctrl.abort()
    }
  }

  /** One HTTP connection; resolves with why it ended. Throws ApiError for an HTTP error status. */
  async function connectOnce(conn: Connection): Promise<Outcome> {
    const ctrl = new AbortController()
    controller.value = ctrl
    const result: { outcome?: Outcome } = {}
    try {
      await fetchEventSource(base + conn.url, {
        method: conn.method,
        headers: {
          Accept: 'text/event-stream',
          ...(conn.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...conn.headers,
        },
        body: conn.body !== undefined ? JSON.stringify(conn.body) : undefined,
        signal: ctrl.signal,
        openWhenHidden: true,
        fetch: doFetch,
        async onopen(res) {
          if (!res.ok) throw await errorFrom(res)
          const chatId = res.headers.get('x-chat-id')
          if (chatId) {
            state.chatId = chatId
            options.onChat?.(chatId)
          }
          const runId = res.headers.get('x-run-id')
          if (runId) state.runId = runId
          if (!isFinished(state)) state.status = 'running'
        },
        onmessage: (msg) => handle(msg, ctrl, result),
        onclose() {
          // The server ended the response; without a terminal event that is a dropped stream.
          throw new StopStream()
        },
        onerror(err) {
          throw err // no blind retries of a POST: the loop below resumes instead
        },
      })
    } catch (err) {
      if (err instanceof ApiError) throw err
      if (result.outcome) return result.outcome
      if (userAborted || ctrl.signal.aborted) return 'aborted'
      return 'dropped'
    } finally {
      if (controller.value === ctrl) controller.value = null
    }
    return result.outcome ?? (userAborted ? 'aborted' : 'dropped')
  }

  /** Run a stream to its end, resuming it after drops and gaps. */
  async function stream(first: Connection): Promise<void> {
    busy.value = true
    userAborted = false
    let conn = first
    let failures = 0
    try {
      for (;;) {
        const before = state.lastSequence
        let outcome: Outcome
        try {
          outcome = await connectOnce(conn)
        } catch (err) {
          const apiErr = err instanceof ApiError ? err : new ApiError(0, 'NETWORK_ERROR', String(err))
          state.error = httpError(apiErr)
          state.status = 'failed'
          return
        }
        if (outcome === 'terminal' || isFinished(state)) return
        if (outcome === 'aborted' || userAborted) return
        if (state.lastSequence > before) failures = 0
        if (!state.runId) {
          state.error = networkError('the stream ended before the first event')
          state.status = 'failed'
          return
        }
        if (outcome === 'dropped') {
          failures += 1
          if (failures > maxReconnects) {
            state.error = networkError(`gave up after ${maxReconnects} reconnection attempts`)
            state.status = 'failed'
            return
          }
          state.status = 'reconnecting'
          await sleep(reconnectDelay * 2 ** (failures - 1))
          if (userAborted) return
        }
        state.reconnects += 1
        conn = {
          url: `/api/chat/runs/${encodeURIComponent(state.runId)}/stream`,
          method: 'GET',
          headers: { 'Last-Event-ID': String(state.lastSequence) },
        }
      }
    } finally {
      busy.value = false
    }
  }

  /** Ask a question: a new answer from the first step. */
  async function startStreaming(req: QuestionRequest): Promise<void> {
    lastRequest = req
    Object.assign(state, newRun(req.question, req.locale ?? 'zh'), { chatId: req.chat_id ?? undefined })
    state.status = 'connecting'
    gate.reset()
    await stream({ url: '/api/chat/enhanced-question', method: 'POST', body: req })
  }

  /** Stop the answer: tell the server, then drop the connection. */
  async function cancelStreaming(): Promise<void> {
    if (isFinished(state)) return
    userAborted = true
    const runId = state.runId
    if (runId) {
      try {
        await doFetch(`${base}/api/chat/runs/${encodeURIComponent(runId)}/cancel`, { method: 'POST' })
      } catch {
        /* the abort below still stops the answer on this side */
      }
    }
    controller.value?.abort()
    if (!isFinished(state)) markCancelled(state, cancelledError())
  }

  /**
   * Retry the failed step: the server continues the same answer from there (completed steps are
   * re-announced as reused). A run that failed only because the connection dropped is resumed instead.
   */
  async function retryStep(stepId?: string): Promise<void> {
    const runId = state.runId
    if (!runId || busy.value) return
    if (state.error?.code === 'NETWORK_ERROR' && !state.failedStepId && !state.steps.some((s) => s.status === 'error')) {
      state.status = 'reconnecting'
      state.error = undefined
      await stream({
        url: `/api/chat/runs/${encodeURIComponent(runId)}/stream`,
        method: 'GET',
        headers: { 'Last-Event-ID': String(state.lastSequence) },
      })
      return
    }
    const target = stepId ?? state.failedStepId ?? state.steps.find((s) => s.status === 'error')?.id
    const saved = JSON.parse(JSON.stringify(state)) as RunState
    prepareRetry(state)
    gate.reset()
    await stream({
      url: `/api/chat/runs/${encodeURIComponent(runId)}/retry`,
      method: 'POST',
      body: (target ? { stepId: target } : {}) satisfies RetryRequest,
    })
    if (state.status === 'failed' && state.lastSequence === 0 && state.error?.code === 'INTERNAL_ERROR') {
      // The server refused the retry (e.g. 409): show the original failure again, with the reason.
      const refusal = state.error
      Object.assign(state, saved, { error: { ...saved.error!, detail: `${refusal.message}\n${refusal.detail ?? ''}` } })
      gate.reset(saved.lastSequence)
    }
  }

  /**
   * Run SQL the person edited, for the question of run `fromRunId`: a new answer (a new record in the same
   * chat) whose writing step completes with the edited SQL; everything after it runs as usual.
   */
  async function runEditedSql(fromRunId: string, question: string, sql: string, locale: RunLocale, chatId?: string): Promise<void> {
    if (busy.value) return
    Object.assign(state, newRun(question, locale), { chatId })
    state.status = 'connecting'
    gate.reset()
    await stream({ url: `/api/chat/runs/${encodeURIComponent(fromRunId)}/sql`, method: 'POST', body: { sql } })
  }

  /** A new answer to the same question (a new run on the server). */
  async function regenerate(): Promise<void> {
    const runId = state.runId
    if (busy.value) return
    const question = state.question
    const locale = state.locale
    const chatId = state.chatId
    Object.assign(state, newRun(question, locale), { chatId })
    state.status = 'connecting'
    gate.reset()
    if (runId) {
      await stream({ url: `/api/chat/runs/${encodeURIComponent(runId)}/regenerate`, method: 'POST', body: {} })
    } else if (lastRequest) {
      await stream({ url: '/api/chat/enhanced-question', method: 'POST', body: lastRequest })
    }
  }

  /** Follow a run that is already going (a page reloaded mid-answer): replay, then live. */
  async function resume(): Promise<void> {
    const runId = state.runId
    if (!runId || busy.value || isFinished(state)) return
    state.status = 'connecting'
    gate.reset(state.lastSequence)
    await stream({
      url: `/api/chat/runs/${encodeURIComponent(runId)}/stream`,
      method: 'GET',
      headers: { 'Last-Event-ID': String(state.lastSequence) },
    })
  }

  /** Stop listening without cancelling the run on the server (the page is going away). */
  function dispose(): void {
    userAborted = true
    controller.value?.abort()
  }

  return {
    state,
    steps: computed(() => state.steps),
    overallProgress,
    overallTitle,
    isCompleted,
    isStreaming,
    currentStep,
    hasFailedSteps,
    canRetry,
    completedCount: computed(() => completedCount(state)),
    startStreaming,
    cancelStreaming,
    retryStep,
    regenerate,
    runEditedSql,
    resume,
    dispose,
  }
}

export type EnhancedStreaming = ReturnType<typeof useEnhancedStreaming>
