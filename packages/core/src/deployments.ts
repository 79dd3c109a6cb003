import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Deployment, DeploymentHistory, TargetHistory } from './contracts.js'

const inEnv = (env: string | undefined) => (d: Deployment) => env === undefined || d.env === env
const ready = (d: Deployment) => d.status === 'ready'

/** Whether `ref` names this deployment: its revision, its version, or its digest (or a prefix of 7+ hex digits). */
export function matchesRef(d: Deployment, ref: string): boolean {
  if (d.revision === ref || d.version === ref) return true
  if (!d.digest) return false
  const want = ref.replace(/^sha256:/, '')
  const have = d.digest.replace(/^sha256:/, '')
  return have === want || (want.length >= 7 && /^[a-f0-9]+$/.test(want) && have.startsWith(want))
}

/** Two records run the same thing when their revision, else digest, else version agree. */
const same = (a: Deployment, b: Deployment) =>
  a.revision !== undefined && b.revision !== undefined ? a.revision === b.revision : a.digest !== undefined && b.digest !== undefined ? a.digest === b.digest : a.version === b.version

/**
 * .mlx/deployments.json: every deploy appends one record, so `mlx status`, `mlx rollback` and a
 * re-run after a failure know where things stand. Written via a temp file and rename so a crash
 * mid-write never leaves a half file.
 */
export class DeploymentLog implements DeploymentHistory {
  readonly file: string

  constructor(projectRoot: string) {
    this.file = path.join(projectRoot, '.mlx', 'deployments.json')
  }

  private read(): Deployment[] {
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as { deployments?: Deployment[] }
      return Array.isArray(data.deployments) ? data.deployments : []
    } catch {
      return []
    }
  }

  list(target?: string): Deployment[] {
    const all = this.read()
    return target ? all.filter((d) => d.target === target) : all
  }

  /** The last attempt, whatever its outcome. */
  latest(target: string, env?: string): Deployment | undefined {
    return this.list(target).filter(inEnv(env)).at(-1)
  }

  /** The last deployment that became ready: what the platform should be serving. */
  lastReady(target: string, env?: string): Deployment | undefined {
    return this.list(target).filter(inEnv(env)).filter(ready).at(-1)
  }

  /** The newest ready deployment `ref` names (see matchesRef); revisions win over versions over digests. */
  find(target: string, ref: string, env?: string): Deployment | undefined {
    const list = this.list(target).filter(inEnv(env)).filter(ready).reverse()
    return list.find((d) => d.revision === ref) ?? list.find((d) => d.version === ref) ?? list.find((d) => matchesRef(d, ref))
  }

  /** The newest ready deployment that runs something other than the last ready one: a rollback's default. */
  previousReady(target: string, env?: string): Deployment | undefined {
    const list = this.list(target).filter(inEnv(env)).filter(ready)
    const current = list.at(-1)
    if (!current) return undefined
    return [...list].reverse().find((d) => !same(d, current))
  }

  append(d: Deployment): void {
    const all = this.read()
    all.push(d)
    mkdirSync(path.dirname(this.file), { recursive: true })
    const tmp = `${this.file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify({ deployments: all }, null, 2) + '\n')
    renameSync(tmp, this.file)
  }

  /** The same queries for one target and environment, as a target's context carries them. */
  forTarget(target: string, env?: string): TargetHistory {
    return {
      file: this.file,
      all: () => this.list(target),
      latest: () => this.latest(target, env),
      lastReady: () => this.lastReady(target, env),
      find: (ref) => this.find(target, ref, env),
      previousReady: () => this.previousReady(target, env),
    }
  }
}
