/** The REST side of the API: chats, datasources, database connections. Bodies are the generated server types. */
import type { ChatDetail, ChatOut, DatabaseCreate, DatasourceDetail, DatasourceOut, Schema, TestResult } from './protocol'
import { getJson, postJson } from './http'

export type { ChatDetail, ChatOut, DatabaseCreate, DatasourceDetail, DatasourceOut, Schema as DatasourceSchema, TestResult }

const id = (s: string) => encodeURIComponent(s)
const putJson = <T>(url: string, body: unknown) =>
  getJson<T>(url, { method: 'PUT', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) })

export const api = {
  listChats: () => getJson<ChatOut[]>('/api/chats'),
  getChat: (chatId: string) => getJson<ChatDetail>(`/api/chats/${id(chatId)}`),
  deleteChat: (chatId: string) => getJson<{ id: string; deleted: boolean }>(`/api/chats/${id(chatId)}`, { method: 'DELETE' }),
  listDatasources: () => getJson<DatasourceOut[]>('/api/datasources'),
  getDatasource: (dsId: string) => getJson<DatasourceDetail>(`/api/datasources/${id(dsId)}`),
  /** Introspect again (tables, columns, comments, keys, row counts). */
  refreshDatasource: (dsId: string) => postJson<DatasourceDetail>(`/api/datasources/${id(dsId)}/refresh`, {}),
  deleteDatasource: (dsId: string) => getJson<{ id: string; deleted: boolean }>(`/api/datasources/${id(dsId)}`, { method: 'DELETE' }),
  /** Connect with unsaved settings (an edit without a password uses the stored one for the same server and user). */
  testConnection: (body: DatabaseCreate) => postJson<TestResult>('/api/datasources/test', body),
  testDatasource: (dsId: string) => postJson<TestResult>(`/api/datasources/${id(dsId)}/test`, {}),
  createDatabase: (body: DatabaseCreate) => postJson<DatasourceOut>('/api/datasources', body),
  updateDatabase: (dsId: string, body: DatabaseCreate) => putJson<DatasourceOut>(`/api/datasources/${id(dsId)}`, body),
}
