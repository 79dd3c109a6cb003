import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import type { KubeObject } from './render.js'

/**
 * .mlx/helm/releases/<n>/: what each deploy applied (manifests.yaml, and the image values it gave
 * helm), so a failed rollout or `mlx rollback` can put an earlier set back exactly. The newest
 * `keep` are kept, plus any a ready deployment record still points at.
 */
export async function newReleaseDir(root: string): Promise<{ dir: string; number: number }> {
  await mkdir(root, { recursive: true })
  const taken = (await readdir(root)).map(Number).filter(Number.isInteger)
  const number = Math.max(0, ...taken) + 1
  const dir = path.join(root, String(number))
  await mkdir(dir, { recursive: true })
  return { dir, number }
}

export async function pruneReleaseDirs(root: string, keep: number, pinned: readonly string[]): Promise<void> {
  const numbers = (await readdir(root).catch(() => [] as string[])).map(Number).filter(Number.isInteger).sort((a, b) => b - a)
  const pin = new Set(pinned.map((p) => path.resolve(p)))
  for (const n of numbers.slice(keep)) {
    const dir = path.join(root, String(n))
    if (![...pin].some((p) => p.startsWith(dir + path.sep))) await rm(dir, { recursive: true, force: true })
  }
}

export async function readManifests(file: string): Promise<KubeObject[]> {
  const text = await readFile(file, 'utf8')
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => Boolean(o?.kind && o.metadata))
}
