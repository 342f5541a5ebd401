/** SQL highlighting with highlight.js core and only the SQL grammar (a few KB, not every language). */
import hljs from 'highlight.js/lib/core'
import sql from 'highlight.js/lib/languages/sql'

hljs.registerLanguage('sql', sql)

export function highlightSql(code: string): string {
  return hljs.highlight(code, { language: 'sql', ignoreIllegals: true }).value
}
