/**
 * Puts the events of one stream in `sequence` order: drops duplicates (a replay after reconnecting
 * repeats what was already seen), holds events that arrive after a gap until the missing ones come,
 * and says when there is a gap so the caller can ask the server to replay it.
 */
export interface Sequenced {
  sequence: number
}

export class SequenceGate<E extends Sequenced> {
  private held = new Map<number, E>()
  duplicates = 0

  constructor(public last = 0) {}

  /** The events that can be applied now, in order (possibly none). */
  accept(event: E): E[] {
    const seq = event.sequence
    if (seq <= this.last || this.held.has(seq)) {
      this.duplicates += 1
      return []
    }
    this.held.set(seq, event)
    const ready: E[] = []
    let next = this.held.get(this.last + 1)
    while (next) {
      this.held.delete(this.last + 1)
      this.last += 1
      ready.push(next)
      next = this.held.get(this.last + 1)
    }
    return ready
  }

  /** True while some event is waiting for an earlier one that has not arrived. */
  get hasGap(): boolean {
    return this.held.size > 0
  }

  reset(last = 0): void {
    this.last = last
    this.held.clear()
  }
}
