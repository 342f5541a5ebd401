import { onBeforeUnmount, shallowRef, watch, type Ref } from 'vue'

/** A clock that ticks only while `active` is true (live step timings), and stops with its component. */
export function useNow(active: Ref<boolean>, intervalMs = 250): Ref<number> {
  const now = shallowRef(Date.now())
  let timer: ReturnType<typeof setInterval> | undefined
  const stop = () => {
    if (timer) clearInterval(timer)
    timer = undefined
  }
  watch(
    active,
    (on) => {
      stop()
      now.value = Date.now()
      if (on) timer = setInterval(() => (now.value = Date.now()), intervalMs)
    },
    { immediate: true },
  )
  onBeforeUnmount(stop)
  return now
}
