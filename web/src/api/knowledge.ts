/** The knowledge API (`/api/knowledge`): glossary entries, SQL examples and datasource instructions. */
import { getJson, postJson } from './http'

export interface GlossaryEntry {
  id: string
  term: string
  synonyms: string[]
  meaning: string
  expression: string | null
  /** The datasource id, or '' for a global entry. */
  datasource: string
}
export type GlossaryInput = Omit<GlossaryEntry, 'id'>

export interface SqlExample {
  id: string
  question: string
  sql: string
  datasource: string
}

export interface Instruction {
  datasource: string
  text: string
}

const BASE = '/api/knowledge'
const q = (ds: string) => `?datasource=${encodeURIComponent(ds)}`

function send<T>(url: string, method: string, body?: unknown): Promise<T> {
  return getJson<T>(url, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

export const listGlossary = (ds: string) => getJson<GlossaryEntry[]>(`${BASE}/glossary${q(ds)}`)
export const createGlossary = (entry: GlossaryInput) => postJson<GlossaryEntry>(`${BASE}/glossary`, entry)
export const updateGlossary = (id: string, entry: GlossaryInput) => send<GlossaryEntry>(`${BASE}/glossary/${id}`, 'PUT', entry)
export const deleteGlossary = (id: string) => send<void>(`${BASE}/glossary/${id}`, 'DELETE')

export const listExamples = (ds: string) => getJson<SqlExample[]>(`${BASE}/examples${q(ds)}`)
export const createExample = (ex: Omit<SqlExample, 'id'>) => postJson<SqlExample>(`${BASE}/examples`, ex)
export const deleteExample = (id: string) => send<void>(`${BASE}/examples/${id}`, 'DELETE')

export const getInstruction = (ds: string) => getJson<Instruction>(`${BASE}/instructions/${encodeURIComponent(ds)}`)
export const setInstruction = (ds: string, text: string) =>
  send<Instruction>(`${BASE}/instructions/${encodeURIComponent(ds)}`, 'PUT', { text })

/** Where the glossary (CSV) or everything of a datasource (JSON) is downloaded from. */
export const exportUrl = (ds: string, format: 'json' | 'csv') => `${BASE}/export${q(ds)}&format=${format}&kind=glossary`

/** Import a file exported before (JSON) or a glossary CSV. */
export function importFile(text: string, format: 'json' | 'csv') {
  return getJson<{ glossary: number; examples: number; instructions: number }>(
    `${BASE}/import?format=${format}&kind=glossary`,
    { method: 'POST', headers: { 'Content-Type': format === 'csv' ? 'text/csv' : 'application/json' }, body: text },
  )
}
