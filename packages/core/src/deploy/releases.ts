import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'

/**
 * Numbered folders under a target's out dir, one per deploy (a bundle, the manifests applied), so
 * a failed rollout or `mlx rollback` can put an earlier one back exactly. Pruning keeps the
 * newest `keep` and any folder a ready deployment still points into.
 */
export class ReleaseFolders {
  constructor(readonly root: string) {}

  path(id: string | number): string {
    return path.join(this.root, String(id))
  }

  /** A new empty folder: `id` when given (replacing a folder of that name), else the next number. */
  async create(id?: string): Promise<{ dir: string; id: string }> {
    await mkdir(this.root, { recursive: true })
    let name = id
    if (name === undefined) {
      const taken = (await readdir(this.root)).map(Number).filter(Number.isInteger)
      name = String(Math.max(0, ...taken) + 1)
    }
    const dir = this.path(name)
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    return { dir, id: name }
  }

  /** Folder names, newest first (by modification time, then by number). */
  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => [])
    const dirs = await Promise.all(entries.filter((e) => e.isDirectory()).map(async (e) => ({ name: e.name, t: (await stat(this.path(e.name))).mtimeMs })))
    return dirs.sort((a, b) => b.t - a.t || Number(b.name) - Number(a.name)).map((d) => d.name)
  }

  /** Removes all but the newest `keep` folders, sparing any that contains one of `pinned` (paths). */
  async prune(keep: number, pinned: readonly (string | undefined)[]): Promise<string[]> {
    const pins = pinned.filter((p): p is string => !!p).map((p) => path.resolve(p))
    const removed: string[] = []
    for (const name of (await this.list()).slice(keep)) {
      const dir = this.path(name)
      if (pins.some((p) => p === dir || p.startsWith(dir + path.sep))) continue
      await rm(dir, { recursive: true, force: true })
      removed.push(name)
    }
    return removed
  }
}
