import { beforeEach, describe, expect, it } from 'vitest'
import { i18n } from '@/i18n'
import { useEnhancedStreaming } from '@/composables/useEnhancedStreaming'
import { events, fakeFetch, fixture, frames, jsonResponse, sseResponse } from './helpers'

const RUN = (name: string) => events(name)[0].sessionId

describe('useEnhancedStreaming', () => {
  beforeEach(() => {
    i18n.global.locale.value = 'zh-CN' // happy-dom's browser asks for English
  })
  it('streams a recorded answer to the end and learns the chat and run ids', async () => {
    const { fetch, calls } = fakeFetch({
      'POST /api/chat/enhanced-question': () =>
        sseResponse(fixture('success-zh.sse'), { chunks: 13, headers: { 'X-Chat-Id': 'chat-1', 'X-Run-Id': RUN('success-zh.sse') } }),
    })
    const chats: string[] = []
    const s = useEnhancedStreaming({ fetch, onChat: (id) => chats.push(id) })
    await s.startStreaming({ question: '各类别的销售额', locale: 'zh' })
    expect(calls[0].body).toEqual({ question: '各类别的销售额', locale: 'zh' })
    expect(calls[0].headers.accept).toBe('text/event-stream')
    expect(s.state.status).toBe('succeeded')
    expect(s.overallProgress.value).toBe(100)
    expect(s.overallTitle.value).toBe('处理完成')
    expect(s.isCompleted.value).toBe(true)
    expect(s.isStreaming.value).toBe(false)
    expect(s.state.runId).toBe(RUN('success-zh.sse'))
    expect(chats).toEqual(['chat-1'])
    expect(s.state.output?.columns).toEqual(['category', 'total_sales'])
  })

  it('follows a repair loop', async () => {
    const { fetch } = fakeFetch({ 'POST /api/chat/enhanced-question': () => sseResponse(fixture('repair-loop.sse')) })
    const s = useEnhancedStreaming({ fetch })
    await s.startStreaming({ question: 'q', locale: 'en' })
    expect(s.state.status).toBe('succeeded')
    expect(s.state.steps.find((x) => x.id === 'step_004')!.attempt).toBe(2)
  })

  it('a step error, then a retry through the retry endpoint continues the same answer', async () => {
    const run = RUN('step-error.sse')
    const { fetch, calls } = fakeFetch({
      'POST /api/chat/enhanced-question': () => sseResponse(fixture('step-error.sse')),
      [`POST /api/chat/runs/${run}/retry`]: () => sseResponse(fixture('retry.sse')),
    })
    const s = useEnhancedStreaming({ fetch })
    await s.startStreaming({ question: 'total amount by region', locale: 'en', datasource_id: 'shop' })
    expect(s.state.status).toBe('failed')
    expect(s.canRetry.value).toBe(true)
    expect(s.hasFailedSteps.value).toBe(true)
    await s.retryStep('step_002')
    const retry = calls.find((c) => c.url.endsWith('/retry'))!
    expect(retry.method).toBe('POST')
    expect(retry.body).toEqual({ stepId: 'step_002' })
    expect(s.state.status).toBe('succeeded')
    expect(s.state.runId).toBe(run)
    expect(s.state.steps[0].reused).toBe(true)
    expect(s.hasFailedSteps.value).toBe(false)
  })

  it('a refused retry (409) puts the failure back, with the reason in the details', async () => {
    const run = RUN('step-error.sse')
    const { fetch } = fakeFetch({
      'POST /api/chat/enhanced-question': () => sseResponse(fixture('step-error.sse')),
      [`POST /api/chat/runs/${run}/retry`]: () => jsonResponse({ code: 'NOT_RETRYABLE', message: 'Nothing to retry.' }, 409),
    })
    const s = useEnhancedStreaming({ fetch })
    await s.startStreaming({ question: 'q', locale: 'en' })
    await s.retryStep()
    expect(s.state.status).toBe('failed')
    expect(s.state.failedStepId).toBe('step_002')
    expect(s.state.error?.detail).toContain('Nothing to retry.')
  })

  it('cancel: tells the server, aborts the request and shows the answer cancelled', async () => {
    const evs = events('success-en.sse')
    const run = evs[0].sessionId
    let streamSignal: AbortSignal | null | undefined
    const { fetch, calls } = fakeFetch({
      'POST /api/chat/enhanced-question': (call) => {
        streamSignal = call.signal
        return sseResponse(frames(evs.slice(0, 12)), { hang: true }, call.signal)
      },
      [`POST /api/chat/runs/${run}/cancel`]: () => jsonResponse({ runId: run, status: 'cancelled' }),
    })
    const s = useEnhancedStreaming({ fetch })
    const done = s.startStreaming({ question: 'q', locale: 'en' })
    await expect.poll(() => s.state.lastSequence).toBe(12)
    expect(s.isStreaming.value).toBe(true)
    await s.cancelStreaming()
    await done
    expect(calls.some((c) => c.url.endsWith(`/runs/${run}/cancel`) && c.method === 'POST')).toBe(true)
    expect(streamSignal?.aborted).toBe(true)
    expect(s.state.status).toBe('cancelled')
    expect(s.state.steps.some((x) => x.status === 'cancelled')).toBe(true)
    expect(s.isStreaming.value).toBe(false)
  })

  it('drop and reconnect: resumes with Last-Event-ID, ignores duplicates, replays a missing event', async () => {
    const evs = events('success-en.sse')
    const run = evs[0].sessionId
    const last = evs.length
    const { fetch, calls } = fakeFetch({
      // The first connection drops after event 10.
      'POST /api/chat/enhanced-question': () => sseResponse(frames(evs.slice(0, 10))),
      [`GET /api/chat/runs/${run}/stream`]: [
        // The replay repeats 8-10 (duplicates) and loses event 12 on the way.
        () => sseResponse(frames([...evs.slice(7, 11), ...evs.slice(12, 16)]), { hang: true }),
        // Asked again from 11: the rest, with 13 repeated once more.
        () => sseResponse(frames([...evs.slice(11, 13), ...evs.slice(12)])),
      ],
    })
    const s = useEnhancedStreaming({ fetch, reconnectDelay: 1 })
    await s.startStreaming({ question: 'Number of flights per month', locale: 'en' })
    const resumes = calls.filter((c) => c.method === 'GET')
    expect(resumes.map((c) => c.headers['last-event-id'])).toEqual(['10', '11'])
    expect(s.state.status).toBe('succeeded')
    expect(s.state.lastSequence).toBe(last)
    expect(s.state.reconnects).toBe(2)
    expect(s.state.duplicates).toBeGreaterThan(0)
    // Each streamed piece applied exactly once: the SQL is the SQL, not doubled.
    const sql = s.state.steps.find((x) => x.id === 'step_004')!
    expect(sql.output).toBe(s.state.output!.sql)
    expect(s.state.steps.every((x) => x.status === 'completed')).toBe(true)
  })

  it('gives up after repeated drops with a retryable network error, and retry resumes', async () => {
    const evs = events('success-en.sse')
    const run = evs[0].sessionId
    const drop = () => sseResponse('')
    const { fetch, calls } = fakeFetch({
      'POST /api/chat/enhanced-question': () => sseResponse(frames(evs.slice(0, 5))),
      [`GET /api/chat/runs/${run}/stream`]: [drop, drop, () => sseResponse(frames(evs.slice(5)))],
    })
    const s = useEnhancedStreaming({ fetch, reconnectDelay: 1, maxReconnects: 1 })
    await s.startStreaming({ question: 'q', locale: 'en' })
    expect(s.state.status).toBe('failed')
    expect(s.state.error?.code).toBe('NETWORK_ERROR')
    expect(s.canRetry.value).toBe(true)
    await s.retryStep()
    expect(calls.at(-1)!.headers['last-event-id']).toBe('5')
    expect(s.state.status).toBe('succeeded')
  })

  it('an HTTP error before the stream shows the server message', async () => {
    const { fetch } = fakeFetch({
      'POST /api/chat/enhanced-question': () =>
        jsonResponse({ code: 'DATASOURCE_NOT_FOUND', message: "No datasource with id 'x'.", detail: { id: 'x' } }, 404),
    })
    const s = useEnhancedStreaming({ fetch })
    await s.startStreaming({ question: 'q', datasource_id: 'x' })
    expect(s.state.status).toBe('failed')
    expect(s.state.error?.message).toBe("No datasource with id 'x'.")
    expect(s.state.error?.detail).toContain('404')
  })

  it('regenerate starts a new run through the regenerate endpoint', async () => {
    const run = RUN('success-en.sse')
    const { fetch, calls } = fakeFetch({
      'POST /api/chat/enhanced-question': () => sseResponse(fixture('success-en.sse')),
      [`POST /api/chat/runs/${run}/regenerate`]: () => sseResponse(fixture('success-zh.sse')),
    })
    const s = useEnhancedStreaming({ fetch })
    await s.startStreaming({ question: 'q', locale: 'en' })
    await s.regenerate()
    expect(calls.at(-1)!.url).toContain(`/runs/${run}/regenerate`)
    expect(s.state.status).toBe('succeeded')
    expect(s.state.runId).toBe(RUN('success-zh.sse'))
  })
})
