/** JSON over HTTP with the server's one error envelope: `{code, message, detail}` on 4xx/5xx. */
import { authFetch } from './auth'

export type FetchLike = typeof fetch

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public detail?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Read the error envelope of a failed response (or make one from the status line). */
export async function errorFrom(res: Response): Promise<ApiError> {
  let body: { code?: string; message?: string; detail?: unknown } = {}
  try {
    body = await res.json()
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText, body.detail)
}

export async function getJson<T>(url: string, init?: RequestInit, doFetch: FetchLike = authFetch): Promise<T> {
  const res = await doFetch(url, { headers: { Accept: 'application/json' }, ...init })
  if (!res.ok) throw await errorFrom(res)
  if (res.status === 204) return undefined as T
  return (await res.json()) as T
}

export function postJson<T>(url: string, body: unknown, doFetch: FetchLike = authFetch): Promise<T> {
  return getJson<T>(
    url,
    { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) },
    doFetch,
  )
}
