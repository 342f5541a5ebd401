/**
 * Work the first answer would otherwise do cold, done once the page is idle after loading: fetch and
 * evaluate ECharts (a separate chunk), and run the SQL highlighter and the Markdown renderer once (highlight.js
 * compiles its SQL grammar on first use). Each piece is its own idle task, so none of them is long, and the
 * first answer's final render does not pay for them.
 */
import { highlightSql } from './highlight'
import { renderMarkdown } from './markdown'

type Idle = (cb: () => void, opts?: { timeout: number }) => unknown

export function warmUp(delayMs = 1000): void {
  const idle: Idle = window.requestIdleCallback ?? ((cb: () => void) => setTimeout(cb, 50))
  const steps: (() => unknown)[] = [
    () => highlightSql('SELECT a, COUNT(*) AS n FROM t WHERE b > 1 GROUP BY a ORDER BY n DESC'),
    () => renderMarkdown('**warm** up: `code`, a [link](https://example.com)\n\n- one\n- two'),
    () => import('./echarts').catch(() => undefined),
  ]
  const next = () => {
    const step = steps.shift()
    if (!step) return
    idle(
      () => {
        void step()
        next()
      },
      { timeout: 5000 },
    )
  }
  setTimeout(next, delayMs)
}
