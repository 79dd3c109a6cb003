import { readFile } from 'node:fs/promises'
import path from 'node:path'

/** Never shipped, whatever .mlxignore says: VCS data, secrets, caches, dev-tool shims. */
export const ALWAYS_IGNORED = ['.git/', '.hg/', '.svn/', '.env', '.env.*', '.mlx/', '.DS_Store', '__pycache__/', '*.pyc', 'node_modules/.bin/', 'node_modules/.cache/', '.npmrc', '.mlxignore']

interface Rule {
  readonly re: RegExp
  readonly negate: boolean
  readonly dirOnly: boolean
}

function globToRegExp(glob: string, anchored: boolean): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      // "**/" spans any number of folders (zero included); a trailing "**" everything below.
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?'
        i += 2
      } else {
        re += '.*'
        i += 1
      }
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${anchored ? '' : '(?:.*/)?'}${re}$`)
}

/** gitignore-style rules: "#" comments, "!" re-includes, a trailing "/" for folders, a "/" inside anchors to the project root. */
export function parseIgnore(text: string): Rule[] {
  const rules: Rule[] = []
  for (let line of text.split(/\r?\n/)) {
    line = line.replace(/\s+$/, '')
    if (!line || line.startsWith('#')) continue
    const negate = line.startsWith('!')
    if (negate) line = line.slice(1)
    const dirOnly = line.endsWith('/')
    if (dirOnly) line = line.slice(0, -1)
    const anchored = line.includes('/')
    if (line.startsWith('/')) line = line.slice(1)
    if (line) rules.push({ re: globToRegExp(line, anchored), negate, dirOnly })
  }
  return rules
}

export type IgnoreFn = (rel: string, isDir: boolean) => boolean

/** Project-relative paths (forward slashes) → ignored or not; later rules win, as in .gitignore. */
export function ignoreMatcher(rules: readonly Rule[]): IgnoreFn {
  return (rel, isDir) => {
    let ignored = false
    for (const r of rules) {
      if (r.dirOnly && !isDir) continue
      if (r.re.test(rel)) ignored = !r.negate
    }
    return ignored
  }
}

/** The project's .mlxignore (if any), then the built-in rules, which a "!" cannot undo. */
export async function projectIgnore(root: string): Promise<{ ignore: IgnoreFn; file?: string }> {
  const file = path.join(root, '.mlxignore')
  const text = await readFile(file, 'utf8').catch(() => undefined)
  const always = ignoreMatcher(parseIgnore(ALWAYS_IGNORED.join('\n')))
  const user = ignoreMatcher(parseIgnore(text ?? ''))
  return { ignore: (rel, isDir) => always(rel, isDir) || user(rel, isDir), file: text === undefined ? undefined : file }
}
