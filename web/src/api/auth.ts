/**
 * The API key of a server that has users: asked for once (a dialog on the first 401), kept in this
 * browser's localStorage, and sent as `Authorization: Bearer` with every request, streams included
 * (fetch-event-source sends headers, so the key never goes into a URL). Plain links that cannot send a
 * header (the export downloads) carry a short-lived stream token as `?access_token=` instead.
 */
import { reactive } from 'vue'

const STORAGE = 'sqlbot.apiKey'
const TOKEN_REFRESH_MS = 4 * 60 * 1000 // tokens live 5 minutes

export interface Me {
  name: string
  roles: string[]
  admin: boolean
  authRequired: boolean
}

const storage: Storage | undefined = typeof localStorage === 'undefined' ? undefined : localStorage

export const auth = reactive({
  /** The stored key ('' when none). */
  key: storage?.getItem(STORAGE) ?? '',
  /** A request was refused with 401: the key dialog is open. */
  needKey: false,
  /** The refused request carried a key (it is wrong or was revoked). */
  invalid: false,
  /** Who the server says we are (undefined until asked). */
  me: undefined as Me | undefined,
  /** For `?access_token=` on links; '' when the server is open. */
  streamToken: '',
})

/** `fetch` with the stored key; a 401 opens the key dialog. */
export const authFetch: typeof fetch = async (input, init) => {
  const headers = new Headers(init?.headers)
  if (auth.key && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${auth.key}`)
  const res = await fetch(input, { ...init, headers })
  if (res.status === 401) {
    auth.invalid = !!auth.key
    auth.needKey = true
  }
  return res
}

/** Keep the key and start over with it (every view reloads its data). */
export function signIn(key: string): void {
  storage?.setItem(STORAGE, key.trim())
  location.reload()
}

/** Forget the key; the next request asks for one again. */
export function signOut(): void {
  storage?.removeItem(STORAGE)
  location.reload()
}

async function refreshToken(): Promise<void> {
  const res = await authFetch('/api/auth/stream-token', { method: 'POST', headers: { Accept: 'application/json' } })
  if (res.ok) auth.streamToken = ((await res.json()) as { token: string | null }).token ?? ''
}

/** Ask the server who we are; with users configured, keep a stream token fresh for links. */
export async function loadMe(): Promise<void> {
  const res = await authFetch('/api/auth/me', { headers: { Accept: 'application/json' } })
  if (!res.ok) return
  auth.me = (await res.json()) as Me
  if (auth.me.authRequired) {
    await refreshToken()
    setInterval(() => void refreshToken(), TOKEN_REFRESH_MS)
  }
}

/** `url` with the stream token, for a link that cannot send the Authorization header. */
export function withAccessToken(url: string): string {
  if (!auth.streamToken) return url
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(auth.streamToken)}`
}
