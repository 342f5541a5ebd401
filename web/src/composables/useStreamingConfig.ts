/**
 * The proposal's `StreamingConfig`, one per browser: kept in localStorage and shared by the page.
 */
import { reactive, watch } from 'vue'

export interface StreamingConfig {
  /** Detailed step streaming; off means the legacy simple stream and only the final answer. */
  enabled: boolean
  showSteps: boolean
  showReasoning: boolean
  autoExpandDetails: boolean
  enableRetry: boolean
}

export const STREAMING_CONFIG_KEY = 'sqlbot.streamingConfig'

export const DEFAULT_STREAMING_CONFIG: Readonly<StreamingConfig> = Object.freeze({
  enabled: true,
  showSteps: true,
  showReasoning: false,
  autoExpandDetails: true,
  enableRetry: true,
})

function load(): StreamingConfig {
  const config = { ...DEFAULT_STREAMING_CONFIG }
  try {
    const saved = JSON.parse(localStorage.getItem(STREAMING_CONFIG_KEY) ?? '{}') as Partial<StreamingConfig>
    for (const key of Object.keys(config) as (keyof StreamingConfig)[]) {
      if (typeof saved[key] === 'boolean') config[key] = saved[key]
    }
  } catch {
    /* unreadable: defaults */
  }
  return config
}

let shared: StreamingConfig | undefined

export function useStreamingConfig(): StreamingConfig {
  if (!shared) {
    shared = reactive(load())
    watch(
      shared,
      (value) => {
        try {
          localStorage.setItem(STREAMING_CONFIG_KEY, JSON.stringify(value))
        } catch {
          /* not persisted */
        }
      },
      { deep: true },
    )
  }
  return shared
}

/** Forget the shared instance (tests). */
export function resetStreamingConfig(): void {
  shared = undefined
}
