/** What the chat message needs from an answer, whichever stream (detailed or legacy) produced it. */
import type { ComputedRef, Ref } from 'vue'
import type { RunState } from './run'

export interface AnswerRun {
  state: RunState
  isStreaming: ComputedRef<boolean>
  isCompleted: ComputedRef<boolean>
  cancelStreaming(): Promise<void>
  regenerate(): Promise<void>
  retryStep?(stepId?: string): Promise<void>
  overallProgress?: ComputedRef<number>
  overallTitle?: ComputedRef<string>
  /** Legacy stream only: what it is waiting for. */
  phase?: Ref<string>
  dispose?(): void
}

export interface ChatMessage {
  id: string
  role: 'user' | 'assistant'
  content: string
  timestamp: number
  streaming?: boolean
  error?: string
}
