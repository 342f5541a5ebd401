/**
 * User Timing measures around the phases of drawing an answer (`sqlbot:*`), so that a long task found by the
 * browser test (or in DevTools) can be put down to one of them.
 */
import { nextTick } from 'vue'

/** Run `fn` (which changes reactive state) and measure it together with the render it causes. */
export async function measureRender(name: string, fn: () => void): Promise<void> {
  const start = performance.now()
  fn()
  await nextTick()
  performance.measure(name, { start, end: performance.now() })
}

/** Run `fn` as a named measure. */
export function measured<T>(name: string, fn: () => T): T {
  const start = performance.now()
  try {
    return fn()
  } finally {
    performance.measure(name, { start, end: performance.now() })
  }
}
