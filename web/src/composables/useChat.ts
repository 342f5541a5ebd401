/**
 * The chat page's state: the chat list, the open chat's turns (question + answer), the datasource, and
 * asking through the detailed or the legacy stream according to the streaming settings.
 */
import { computed, markRaw, shallowReactive, shallowRef } from 'vue'
import { api, type ChatOut, type DatasourceOut } from '@/api/client'
import { getJson } from '@/api/http'
import type { RecordData } from '@/api/protocol'
import { runLocale } from '@/i18n'
import type { AnswerRun } from '@/lib/answer'
import { runFromRecord } from '@/lib/records'
import { measureRender } from '@/lib/perf'
import { isFinished, newRun } from '@/lib/run'
import { useEnhancedStreaming } from './useEnhancedStreaming'
import { rowsOf, useLegacyStreaming } from './useLegacyStreaming'
import { useStreamingConfig } from './useStreamingConfig'

export interface ChatTurn {
  id: string
  question: string
  createdAt: number
  run: AnswerRun
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0))

let turnSeq = 0
const nextTurnId = () => `turn-${Date.now().toString(36)}-${++turnSeq}`

export function useChat() {
  const config = useStreamingConfig()
  const chats = shallowRef<ChatOut[]>([])
  const chatsLoading = shallowRef(false)
  const chatsError = shallowRef<string>()
  const datasources = shallowRef<DatasourceOut[]>([])
  const datasourceId = shallowRef<string>('') // '' = automatic
  const currentChatId = shallowRef<string>()
  const loadingChat = shallowRef(false)
  const turns = shallowReactive<ChatTurn[]>([])

  /** Between the click on send and the new turn (see `ask`). */
  let sending = false
  const asking = shallowRef(false)
  const busy = computed(() => asking.value || turns.some((t) => t.run.isStreaming.value))

  let chatsLoaded = false
  async function refreshChats(): Promise<void> {
    // The list's loading mask is for the first load only: refreshing it as an answer starts (a new chat) and
    // ends would otherwise mount and close Element Plus's loading overlay, a small app of its own, mid-answer.
    if (!chatsLoaded) chatsLoading.value = true
    try {
      chats.value = await api.listChats()
      chatsLoaded = true
      chatsError.value = undefined
    } catch (err) {
      chatsError.value = String(err instanceof Error ? err.message : err)
    } finally {
      chatsLoading.value = false
    }
  }

  async function loadDatasources(): Promise<void> {
    datasources.value = await api.listDatasources()
  }

  function onChat(chatId: string) {
    if (currentChatId.value !== chatId) {
      currentChatId.value = chatId
      void refreshChats()
    }
  }

  function disposeTurns() {
    for (const turn of turns) turn.run.dispose?.()
    turns.splice(0)
  }

  function newChat(): void {
    disposeTurns()
    currentChatId.value = undefined
  }

  async function openChat(chatId: string): Promise<void> {
    if (chatId === currentChatId.value && turns.length) return
    loadingChat.value = true
    try {
      const detail = await api.getChat(chatId)
      disposeTurns()
      currentChatId.value = detail.id
      if (detail.datasourceId) datasourceId.value = detail.datasourceId
      for (const record of detail.records) {
        const live = record.status === 'running'
        const state = live ? { ...newRun(record.question, runLocale()), runId: record.id, chatId: record.chatId } : runFromRecord(record, runLocale())
        const run = useEnhancedStreaming({ initial: state, onChat })
        turns.push({ id: record.id, question: record.question, createdAt: record.createdAt * 1000, run: markRaw(run) as AnswerRun })
        if (live) void run.resume()
        else if (record.status === 'succeeded' && (record.rowCount ?? 0) > (record.preview?.length ?? 0)) {
          // The record holds a preview; the rows it kept are one request away.
          void getJson<RecordData>(`/api/chat/records/${encodeURIComponent(record.id)}/data`).then((body) => {
            const { columns, data } = rowsOf(body)
            if (run.state.output) Object.assign(run.state.output, { columns, data })
          }, () => undefined)
        }
      }
    } finally {
      loadingChat.value = false
    }
  }

  async function deleteChat(chatId: string): Promise<void> {
    await api.deleteChat(chatId)
    if (chatId === currentChatId.value) newChat()
    await refreshChats()
  }

  function makeRun(): AnswerRun {
    const run = config.enabled ? useEnhancedStreaming({ onChat }) : useLegacyStreaming({ onChat })
    return markRaw(run) as AnswerRun
  }

  async function ask(question: string): Promise<void> {
    const text = question.trim()
    if (!text || busy.value || sending) return
    // Asking is a few short tasks rather than one long one: the click (or Enter) only clears the input; the
    // next task marks the page busy and sends the question; the one after mounts the new turn (and the step
    // list mounts in the task after that, see StepProgress's deferList).
    sending = true
    let answered: Promise<void> | undefined
    try {
      await nextTask()
      const run = makeRun()
      await measureRender('sqlbot:ask-send', () => {
        asking.value = true
        answered = (run as unknown as { startStreaming: ReturnType<typeof useEnhancedStreaming>['startStreaming'] }).startStreaming({
          question: text,
          chat_id: currentChatId.value,
          datasource_id: datasourceId.value || undefined,
          locale: runLocale(),
        })
      })
      await nextTask()
      await measureRender('sqlbot:ask-mount-turn', () => turns.push({ id: nextTurnId(), question: text, createdAt: Date.now(), run }))
    } finally {
      asking.value = false
      sending = false
    }
    await answered
    void refreshChats()
  }

  /** Run edited SQL for a turn's question: a new turn below, recorded in the chat like any answer. */
  async function runEditedSql(turnId: string, sql: string): Promise<void> {
    const turn = turns.find((t) => t.id === turnId)
    const from = turn?.run.state?.runId
    if (!turn || !from || busy.value || sending) return
    const run = markRaw(useEnhancedStreaming({ onChat }))
    sending = true
    let answered: Promise<void> | undefined
    try {
      answered = run.runEditedSql(from, turn.question, sql, turn.run.state?.locale ?? runLocale(), currentChatId.value)
      await nextTask()
      turns.push({ id: nextTurnId(), question: turn.question, createdAt: Date.now(), run: run as AnswerRun })
    } finally {
      sending = false
    }
    await answered
    void refreshChats()
  }

  async function regenerate(turnId: string): Promise<void> {
    const turn = turns.find((t) => t.id === turnId)
    if (!turn || busy.value) return
    await turn.run.regenerate()
    void refreshChats()
  }

  return {
    config,
    chats,
    chatsLoading,
    chatsError,
    datasources,
    datasourceId,
    currentChatId,
    loadingChat,
    turns,
    busy,
    refreshChats,
    loadDatasources,
    newChat,
    openChat,
    deleteChat,
    ask,
    regenerate,
    runEditedSql,
    isFinished,
  }
}
