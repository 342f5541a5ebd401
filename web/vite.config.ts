/// <reference types="vitest/config" />
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath, URL } from 'node:url'
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import AutoImport from 'unplugin-auto-import/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The API server (uv run sqlbot serve) for `npm run dev`.
const apiTarget = process.env.SQLBOT_API ?? 'http://127.0.0.1:8000'

/**
 * `virtual:examples`: example questions per datasource, read at build time from the evaluation set
 * (evals/datasets/examples.json, owned by the offline-writer work) when it exists, else from a small
 * fallback list. Shape out: { [datasourceId]: { zh: string[], en: string[] } }.
 */
function examplesPlugin(): Plugin {
  const id = 'virtual:examples'
  const source = fileURLToPath(new URL('../evals/datasets/examples.json', import.meta.url))
  const fallback = fileURLToPath(new URL('./src/examples.fallback.json', import.meta.url))
  type Out = Record<string, { zh: string[]; en: string[] }>
  const add = (out: Out, ds: string, zh?: unknown, en?: unknown) => {
    const slot = (out[ds] ??= { zh: [], en: [] })
    if (typeof zh === 'string' && zh && !slot.zh.includes(zh)) slot.zh.push(zh)
    if (typeof en === 'string' && en && !slot.en.includes(en)) slot.en.push(en)
  }
  // Tolerant of the evaluation file's shape: a map of datasource -> list, or a list of items.
  const normalise = (raw: unknown): Out => {
    const out: Out = {}
    const item = (ds: string, q: unknown) => {
      if (typeof q === 'string') return add(out, ds, /[\u4e00-\u9fff]/.test(q) ? q : undefined, /[\u4e00-\u9fff]/.test(q) ? undefined : q)
      if (!q || typeof q !== 'object') return
      const o = q as Record<string, unknown>
      const d = String(o.datasource ?? o.datasource_id ?? o.datasourceId ?? ds)
      if (o.locale === 'zh') return add(out, d, o.question)
      if (o.locale === 'en') return add(out, d, undefined, o.question)
      add(out, d, o.question_zh ?? o.zh, o.question_en ?? o.en ?? (o.zh ? undefined : o.question))
    }
    const list = (ds: string, v: unknown) => {
      if (Array.isArray(v)) v.forEach((q) => item(ds, q))
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>
        if (Array.isArray(o.zh) || Array.isArray(o.en)) {
          ;((o.zh as unknown[]) ?? []).forEach((q) => add(out, ds, q))
          ;((o.en as unknown[]) ?? []).forEach((q) => add(out, ds, undefined, q))
        } else list(ds, o.examples ?? o.questions)
      }
    }
    if (Array.isArray(raw)) raw.forEach((q) => item('', q))
    else if (raw && typeof raw === 'object') {
      const o = raw as Record<string, unknown>
      if (Array.isArray(o.examples)) o.examples.forEach((q) => item('', q))
      else for (const [ds, v] of Object.entries(o)) list(ds, v)
    }
    delete out['']
    return out
  }
  return {
    name: 'sqlbot-examples',
    resolveId: (source_) => (source_ === id ? '\0' + id : undefined),
    load(resolved) {
      if (resolved !== '\0' + id) return
      // The hand-picked questions first (both languages for every datasource), then the evaluation's.
      const data = normalise(JSON.parse(readFileSync(fallback, 'utf8')))
      this.addWatchFile(fallback)
      if (existsSync(source)) {
        this.addWatchFile(source)
        for (const [ds, qs] of Object.entries(normalise(JSON.parse(readFileSync(source, 'utf8'))))) {
          qs.zh.forEach((q) => add(data, ds, q))
          qs.en.forEach((q) => add(data, ds, undefined, q))
        }
      }
      return `export default ${JSON.stringify(data)}`
    },
  }
}

export default defineConfig({
  define: {
    __VUE_OPTIONS_API__: 'true',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    __VUE_I18N_FULL_INSTALL__: 'false',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
  },
  plugins: [
    vue(),
    examplesPlugin(),
    // Element Plus on demand: only the components (and their CSS) the templates use are bundled.
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver()], dts: 'components.d.ts' }),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  base: '/',
  build: {
    outDir: process.env.SQLBOT_WEB_OUT ?? '../server/static',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // Element Plus (on demand) + Vue + vue-i18n + markdown-it make one ~250 KB gzipped entry; ECharts is a lazy chunk.
    chunkSizeWarningLimit: 800,
    // Stable, content-hashed names; no timestamps anywhere, so two builds of the same tree are identical.
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
        // V8's explicit compile hint: compile every function of the ECharts chunk eagerly, off the main thread
        // while the chunk streams in (it is loaded in idle time). Otherwise the first chart compiles ECharts'
        // code lazily on the main thread as it draws: a 40-50 ms frame instead of ~15 ms.
        postBanner: (chunk) => (chunk.name === 'echarts' ? '//# allFunctionsCalledOnLoad' : ''),
      },
    },
  },
  server: {
    proxy: { '/api': { target: apiTarget, changeOrigin: true } },
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    restoreMocks: true,
    // Element Plus components come with CSS imports (on-demand styles): let Vite handle them.
    server: { deps: { inline: ['element-plus'] } },
  },
})
