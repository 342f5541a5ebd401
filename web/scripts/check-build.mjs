#!/usr/bin/env node
// Rebuilds the UI into a temporary directory and compares it with the committed server/static/.
// Exit 1 (with the differing files) when the committed build is stale. The build is deterministic:
// content-hashed file names, no timestamps, no source maps.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const committed = resolve(webDir, '../server/static')
const fresh = mkdtempSync(join(tmpdir(), 'sqlbot-web-'))

function files(dir) {
  const out = []
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.push(relative(dir, p))
    }
  }
  try {
    walk(dir)
  } catch {
    /* missing directory: everything differs */
  }
  return out.sort()
}

try {
  execFileSync(process.execPath, [resolve(webDir, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
    cwd: webDir,
    stdio: 'inherit',
    env: { ...process.env, SQLBOT_WEB_OUT: fresh },
  })
  const a = files(committed)
  const b = files(fresh)
  const problems = []
  for (const f of new Set([...a, ...b])) {
    if (!a.includes(f)) problems.push(`missing from server/static: ${f}`)
    else if (!b.includes(f)) problems.push(`stale file in server/static: ${f}`)
    else if (!readFileSync(join(committed, f)).equals(readFileSync(join(fresh, f)))) problems.push(`differs: ${f}`)
  }
  if (problems.length) {
    console.error('server/static/ is not the build of web/:\n  ' + problems.join('\n  '))
    console.error('Run `npm --prefix web run build` and commit server/static/.')
    process.exit(1)
  }
  console.log(`server/static/ is current (${a.length} files).`)
} finally {
  rmSync(fresh, { recursive: true, force: true })
}
