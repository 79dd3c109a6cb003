import { lstat, readdir, readlink, realpath } from 'node:fs/promises'
import path from 'node:path'

/** Whether `p` is `root` or below it (both absolute, both resolved the same way). */
export function isInside(root: string, p: string): boolean {
  const back = path.relative(root, p)
  return back === '' || (!back.startsWith(`..${path.sep}`) && back !== '..' && !path.isAbsolute(back))
}

/** A symbolic link whose target is outside the project folder. */
export interface EscapingLink {
  /** The link, relative to the project root. */
  readonly link: string
  /** What it points to, as written in the link. */
  readonly target: string
  /** Where it resolves. */
  readonly resolved: string
}

/**
 * Where `abs` (a path inside `root` as text) really is, when that is outside `root`: the first
 * symbolic link on the way that takes it out. The text of a path says nothing about this: a
 * `model/x.onnx` whose `model` is a link to /home/me/secrets is not in the project.
 */
export async function escapingLink(root: string, abs: string): Promise<EscapingLink | undefined> {
  const realRoot = await realpath(root)
  const resolved = await realpath(abs).catch(() => undefined)
  if (resolved === undefined || isInside(realRoot, resolved)) return undefined
  const parts = path.relative(root, abs).split(path.sep)
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join(path.sep)
    const s = await lstat(path.join(root, rel)).catch(() => undefined)
    if (!s?.isSymbolicLink()) continue
    const there = await realpath(path.join(root, rel)).catch(() => undefined)
    if (there !== undefined && !isInside(realRoot, there)) return { link: rel, target: await readlink(path.join(root, rel)), resolved }
  }
  return { link: path.relative(root, abs), target: resolved, resolved }
}

/**
 * The first symbolic link under the folder `abs` that resolves outside `root` (links that stay
 * inside are followed, once each). Folders named node_modules or starting with a dot are not
 * searched unless `all`.
 */
export async function escapingLinkUnder(root: string, abs: string, all = false): Promise<EscapingLink | undefined> {
  const realRoot = await realpath(root)
  const seen = new Set<string>()
  const walk = async (dir: string): Promise<EscapingLink | undefined> => {
    const real = await realpath(dir)
    if (seen.has(real)) return undefined
    seen.add(real)
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isSymbolicLink()) {
        const there = await realpath(p).catch(() => undefined)
        if (there === undefined) continue // a dangling link: copying it fails with its own error
        if (!isInside(realRoot, there)) return { link: path.relative(root, p), target: await readlink(p), resolved: there }
        if ((await lstat(there)).isDirectory()) {
          const found = await walk(p)
          if (found) return found
        }
      } else if (e.isDirectory() && (all || (e.name !== 'node_modules' && !e.name.startsWith('.')))) {
        const found = await walk(p)
        if (found) return found
      }
    }
    return undefined
  }
  return walk(abs)
}

/** "'model' is a symbolic link to /elsewhere (resolves to /elsewhere/x.onnx)" */
export function linkText(l: EscapingLink): string {
  return `'${l.link}' is a symbolic link to ${l.target}${l.target !== l.resolved ? ` (resolves to ${l.resolved})` : ''}`
}

export const LINK_HINT =
  'copy the file into the project folder instead of linking to it (or make the link point inside the project): everything a deployment needs ships with it, and nothing from elsewhere on this machine may.'
