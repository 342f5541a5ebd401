/**
 * Progress a person can trust: bars that never go back, estimates that only move forward, and a label that
 * is the bar's own value.
 *
 * A step without measured progress advances against its estimate on a curve that approaches but never
 * reaches 95 %: however long it takes, the bar keeps creeping and never claims to be done. Measured
 * progress (e.g. a query's) and the time-based figure are combined by taking the larger, and every shown
 * value is a high-water mark, so the bar cannot drop when a step switches from one source to the other.
 */

/** Time-based progress (0-95) of a step that has run `elapsed` ms against an estimate of `estimate` ms. */
export function timeProgress(elapsed: number, estimate: number): number {
  if (!(estimate > 0) || !(elapsed > 0)) return 0
  return 95 * (1 - Math.exp(-elapsed / estimate))
}

/**
 * The estimate to show for a step that has run `elapsed` ms: never below what was shown before, and never
 * below the time already spent (a step past its estimate is "about" a little more, not less).
 */
export function forwardEstimate(previous: number | undefined, estimate: number | undefined, elapsed: number): number | undefined {
  if (!estimate && !previous) return undefined
  const floor = elapsed > 0 ? Math.ceil((elapsed * 1.25) / 500) * 500 : 0
  return Math.max(previous ?? 0, estimate ?? 0, floor)
}

/** High-water marks by key: `next(key, v)` returns the largest value seen for `key`. */
export class HighWater {
  private marks = new Map<string, number>()

  next(key: string, value: number): number {
    const shown = Math.max(this.marks.get(key) ?? 0, value)
    this.marks.set(key, shown)
    return shown
  }

  reset(key?: string): void {
    if (key === undefined) this.marks.clear()
    else this.marks.delete(key)
  }
}

/** A whole percentage for both the bar and its label, so the two always agree. */
export const percent = (v: number): number => Math.max(0, Math.min(100, Math.floor(v)))
