import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Deployment, DeploymentHistory } from './contracts.js'

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

  latest(target: string, env?: string): Deployment | undefined {
    return this.list(target)
      .filter((d) => env === undefined || d.env === env)
      .at(-1)
  }

  append(d: Deployment): void {
    const all = this.read()
    all.push(d)
    mkdirSync(path.dirname(this.file), { recursive: true })
    const tmp = `${this.file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify({ deployments: all }, null, 2) + '\n')
    renameSync(tmp, this.file)
  }
}
