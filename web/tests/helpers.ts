/** Recorded SSE streams (from the real server, `curl -N`) served through a fake fetch. */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { ProtocolEvent } from '@/api/protocol'

export function fixture(name: string): string {
  return readFileSync(resolve(__dirname, 'fixtures', name), 'utf8')
}

/** The events of a recorded stream, in order. */
export function events(name: string): ProtocolEvent[] {
  return fixture(name)
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => JSON.parse(l.slice(5)) as ProtocolEvent)
}

/** Events as SSE frames, the way the server writes them. */
export function frames(evs: ProtocolEvent[]): string {
  return evs.map((e) => `id: ${e.sequence}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('')
}

export interface StreamOptions {
  headers?: Record<string, string>
  /** Split the body into this many network chunks (tests that the parser reassembles frames). */
  chunks?: number
  /** Keep the connection open after the body (a run still going). */
  hang?: boolean
  status?: number
}

export function sseResponse(body: string, opts: StreamOptions = {}, signal?: AbortSignal | null): Response {
  const bytes = new TextEncoder().encode(body)
  const n = Math.max(1, opts.chunks ?? 7)
  const size = Math.ceil(bytes.length / n) || 1
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += size) controller.enqueue(bytes.slice(i, i + size))
      if (!opts.hang) controller.close()
      signal?.addEventListener('abort', () => {
        try {
          controller.error(new DOMException('aborted', 'AbortError'))
        } catch {
          /* already closed */
        }
      })
    },
  })
  return new Response(stream, {
    status: opts.status ?? 200,
    headers: { 'Content-Type': 'text/event-stream', ...opts.headers },
  })
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

export interface Call {
  url: string
  method: string
  headers: Record<string, string>
  body?: unknown
  signal?: AbortSignal | null
}

type Handler = (call: Call) => Response | Promise<Response>

/** A fetch that answers from a queue of handlers per "METHOD path" and records every call. */
export function fakeFetch(routes: Record<string, Handler | Handler[]>) {
  const calls: Call[] = []
  const queues = new Map(Object.entries(routes).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]))
  const fn = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = String(input)
    const method = (init.method ?? 'GET').toUpperCase()
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((v, k) => (headers[k.toLowerCase()] = v))
    const call: Call = { url, method, headers, body: init.body ? JSON.parse(String(init.body)) : undefined, signal: init.signal }
    calls.push(call)
    const key = `${method} ${new URL(url, 'http://x').pathname}`
    const route = queues.get(key)
    const handler = Array.isArray(route) ? route.shift() : route
    if (!handler) return jsonResponse({ code: 'NOT_FOUND', message: `no route for ${key}` }, 404)
    return handler(call)
  }
  return { fetch: fn as typeof fetch, calls }
}
