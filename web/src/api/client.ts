/** The REST side of the API: chats, datasources. Bodies are the generated server types. */
import type { ChatDetail, ChatOut, DatasourceDetail, DatasourceOut, Schema } from './protocol'
import { getJson } from './http'

export type { ChatDetail, ChatOut, DatasourceDetail, DatasourceOut, Schema as DatasourceSchema }

const id = (s: string) => encodeURIComponent(s)

export const api = {
  listChats: () => getJson<ChatOut[]>('/api/chats'),
  getChat: (chatId: string) => getJson<ChatDetail>(`/api/chats/${id(chatId)}`),
  deleteChat: (chatId: string) => getJson<{ id: string; deleted: boolean }>(`/api/chats/${id(chatId)}`, { method: 'DELETE' }),
  listDatasources: () => getJson<DatasourceOut[]>('/api/datasources'),
  getDatasource: (dsId: string) => getJson<DatasourceDetail>(`/api/datasources/${id(dsId)}`),
}
