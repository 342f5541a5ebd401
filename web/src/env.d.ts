/// <reference types="vite/client" />

declare module 'virtual:examples' {
  const examples: Record<string, { zh: string[]; en: string[] }>
  export default examples
}
