/**
 * The backward-compatible path: SQLBot's simple stream (`POST /api/chat/question`), used when
 * detailed streaming is switched off. It shows no steps, only the final answer: the SQL, the rows
 * (read from the record once the server says the data is ready) and the chart.
 */
import { computed, reactive, shallowRef } from 'vue'
import { fetchEventSource } from '@microsoft/fetch-event-source'
import { ApiError, errorFrom, getJson, type FetchLike } from '@/api/http'
import { authFetch } from '@/api/auth'
import type { FinalOutput } from '@/api/protocol'
import { i18n } from '@/i18n'
import { isFinished, newRun, type RunState } from '@/lib/run'
import type { QuestionRequest } from './useEnhancedStreaming'

/** A legacy frame: `data:{"type": ..., ...}`. */
interface LegacyFrame {
  type: string
  id?: string | number
  content?: string
  reasoning_content?: string
  [key: string]: unknown
}

/** SQLBot's error content: plain text, or JSON `{message, traceback, type}`. */
function legacyErrorMessage(content: unknown): string {
  const text = String(content ?? '')
  try {
    const parsed = JSON.parse(text) as { message?: string }
    if (parsed && typeof parsed.message === 'string') return parsed.message
  } catch {
    /* plain text */
  }
  return text
}

export type LegacyPhase = 'waiting' | 'sql' | 'data' | 'chart' | 'done'

interface RecordData {
  fields?: string[]
  columns?: string[]
  data?: Array<Record<string, unknown> | unknown[]>
  rows?: unknown[][]
  truncated?: boolean
  rowCount?: number
  row_count?: number
}

/** Rows as objects keyed by column, whichever shape the record data comes in. */
export function rowsOf(body: RecordData): { columns: string[]; data: Record<string, unknown>[] } {
  const columns = body.fields ?? body.columns ?? []
  const raw = body.data ?? body.rows ?? []
  const data = raw.map((row) =>
    Array.isArray(row) ? Object.fromEntries(columns.map((c, i) => [c, row[i]])) : (row as Record<string, unknown>),
  )
  return { columns: columns.length ? columns : Object.keys(data[0] ?? {}), data }
}

export function useLegacyStreaming(options: { baseUrl?: string; fetch?: FetchLike; onChat?: (id: string) => void } = {}) {
  const base = options.baseUrl ?? ''
  const doFetch: FetchLike = options.fetch ?? authFetch
  const state = reactive<RunState>({ ...newRun('', 'zh'), steps: [], legacy: true }) as RunState
  const phase = shallowRef<LegacyPhase>('waiting')
  const busy = shallowRef(false)
  let controller: AbortController | null = null
  let recordId: string | undefined
  let sqlText = ''
  const output: FinalOutput = {}
  let lastRequest: QuestionRequest | undefined

  async function loadData(): Promise<void> {
    if (!recordId) return
    const body = await getJson<RecordData>(`${base}/api/chat/records/${encodeURIComponent(recordId)}/data`, undefined, doFetch)
    const { columns, data } = rowsOf(body)
    output.columns = columns
    output.data = data
    output.rowCount = body.rowCount ?? body.row_count ?? data.length
    output.truncated = body.truncated ?? false
  }

  async function onFrame(frame: LegacyFrame): Promise<void> {
    switch (frame.type) {
      case 'id':
        recordId = String(frame.id ?? frame.content ?? '')
        state.runId = recordId
        break
      case 'chat':
      case 'chat_id':
        if (frame.id != null) options.onChat?.(String(frame.id))
        break
      case 'datasource':
        output.datasource = { id: frame.id, name: frame.name ?? frame.content }
        break
      case 'sql-result':
        phase.value = 'sql'
        break
      case 'sql':
        sqlText = String(frame.content ?? '')
        output.sql = sqlText
        phase.value = 'data'
        break
      case 'sql-data':
        await loadData()
        phase.value = 'chart'
        break
      case 'chart-result':
        phase.value = 'chart'
        break
      case 'chart':
        try {
          output.chart = typeof frame.content === 'string' ? JSON.parse(frame.content) : (frame.content as unknown as Record<string, unknown>)
        } catch {
          /* an unreadable chart leaves the table */
        }
        break
      case 'explanation':
      case 'answer':
        output.explanation = (output.explanation ?? '') + String(frame.content ?? '')
        break
      case 'finish':
        state.output = { ...output }
        state.status = 'succeeded'
        phase.value = 'done'
        break
      case 'error':
        state.error = {
          code: 'INTERNAL_ERROR',
          title: i18n.global.t('progress.failed'),
          message: legacyErrorMessage(frame.content),
          canRetry: false,
          level: 'error',
        }
        state.status = 'failed'
        break
    }
  }

  async function startStreaming(req: QuestionRequest): Promise<void> {
    lastRequest = req
    Object.assign(state, { ...newRun(req.question, req.locale ?? 'zh'), steps: [], legacy: true, chatId: req.chat_id ?? undefined })
    Object.keys(output).forEach((k) => delete (output as Record<string, unknown>)[k])
    recordId = undefined
    phase.value = 'waiting'
    state.status = 'connecting'
    controller = new AbortController()
    busy.value = true
    // Frames are handled one at a time, in order, even when one of them has to fetch the rows.
    let chain = Promise.resolve()
    try {
      await fetchEventSource(`${base}/api/chat/question`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ ...req, enhanced_streaming: false }),
        signal: controller.signal,
        openWhenHidden: true,
        fetch: doFetch,
        async onopen(res) {
          if (!res.ok) throw await errorFrom(res)
          const chatId = res.headers.get('x-chat-id')
          if (chatId) options.onChat?.(chatId)
          state.status = 'running'
        },
        onmessage(msg) {
          if (!msg.data) return
          let frame: LegacyFrame
          try {
            frame = JSON.parse(msg.data)
          } catch {
            return
          }
          chain = chain.then(() => onFrame(frame))
        },
        onclose() {},
        onerror(err) {
          throw err
        },
      })
      await chain
      if (!isFinished(state)) {
        // The stream ended without `finish`: show what arrived.
        state.output = { ...output }
        state.status = output.sql ? 'succeeded' : 'failed'
        if (state.status === 'failed') throw new Error('stream ended early')
      }
    } catch (err) {
      if (controller.signal.aborted) return
      const message = err instanceof ApiError ? err.message : String(err)
      state.error = {
        code: 'NETWORK_ERROR',
        title: i18n.global.t('error.network'),
        message,
        canRetry: false,
        level: 'error',
      }
      state.status = 'failed'
    } finally {
      busy.value = false
    }
  }

  async function cancelStreaming(): Promise<void> {
    controller?.abort()
    if (!isFinished(state)) {
      state.status = 'cancelled'
      state.error = {
        code: 'CANCELLED',
        title: i18n.global.t('error.cancelledTitle'),
        message: i18n.global.t('error.cancelledMessage'),
        canRetry: false,
        level: 'warning',
      }
    }
  }

  async function regenerate(): Promise<void> {
    if (lastRequest) await startStreaming(lastRequest)
  }

  return {
    state,
    phase,
    isStreaming: computed(() => busy.value && !isFinished(state)),
    isCompleted: computed(() => isFinished(state)),
    startStreaming,
    cancelStreaming,
    regenerate,
  }
}

export type LegacyStreaming = ReturnType<typeof useLegacyStreaming>
