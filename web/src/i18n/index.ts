import { createI18n } from 'vue-i18n'
import zhCN from './zh-CN'
import en from './en'

export type UiLocale = 'zh-CN' | 'en'
/** The protocol's locale (`locale` in requests): zh | en. */
export type RunLocale = 'zh' | 'en'

const STORAGE_KEY = 'sqlbot.locale'

function initialLocale(): UiLocale {
  try {
    const saved = localStorage.getItem(STORAGE_KEY)
    if (saved === 'zh-CN' || saved === 'en') return saved
  } catch {
    /* storage unavailable: use the browser's language */
  }
  return browserLocale()
}

/** A first visit follows the browser's own language list: the first Chinese or English entry wins. */
export function browserLocale(languages: readonly string[] = typeof navigator === 'undefined' ? [] : navigator.languages ?? [navigator.language]): UiLocale {
  for (const lang of languages) {
    const l = lang.toLowerCase()
    if (l.startsWith('zh')) return 'zh-CN'
    if (l.startsWith('en')) return 'en'
  }
  return 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})

export function setLocale(locale: UiLocale): void {
  i18n.global.locale.value = locale
  document.documentElement.lang = locale
  try {
    localStorage.setItem(STORAGE_KEY, locale)
  } catch {
    /* not persisted */
  }
}

export function runLocale(): RunLocale {
  return i18n.global.locale.value === 'en' ? 'en' : 'zh'
}

/** 850 ms, 1.2 s, 12 s: durations as a person reads them. */
export function formatDuration(ms: number | undefined | null): string {
  if (ms == null || !Number.isFinite(ms)) return ''
  const t = i18n.global.t
  if (ms < 1000) return t('time.ms', { n: Math.max(0, Math.round(ms)) })
  const s = ms / 1000
  return t('time.s', { n: s < 10 ? s.toFixed(1) : Math.round(s) })
}
