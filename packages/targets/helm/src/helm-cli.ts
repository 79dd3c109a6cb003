import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import { MlxError } from '@mlx/core'

/** The helm executable: a path as given, or the first match on PATH; undefined when there is none. */
export function findHelm(binary: string): string | undefined {
  const ok = (p: string) => {
    try {
      accessSync(p, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  if (binary.includes('/')) return ok(binary) ? path.resolve(binary) : undefined
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && ok(path.join(dir, binary))) return path.join(dir, binary)
  }
  return undefined
}

/** How deploy runs: helm when asked for, or found in auto mode; else server-side apply by mlx. */
export function resolveMode(cfg: { mode: 'auto' | 'helm' | 'apply'; helmBinary: string }): { mode: 'helm' | 'apply'; helm?: string } {
  const helm = findHelm(cfg.helmBinary)
  if (cfg.mode === 'helm' && !helm) {
    throw new MlxError('USAGE', `targets.helm.mode is 'helm' but no helm executable was found (looked for '${cfg.helmBinary}'${cfg.helmBinary.includes('/') ? '' : ' on PATH'}).`, {
      hint: 'install helm 3.13+/4 (https://helm.sh/docs/intro/install/), set targets.helm.helmBinary, or use mode: apply to apply the rendered manifests without helm.',
    })
  }
  if (cfg.mode === 'apply' || !helm) return { mode: 'apply' }
  return { mode: 'helm', helm }
}

export interface UpgradeArgs {
  release: string
  chart: string
  valueFiles: string[]
  namespace: string
  createNamespace: boolean
  timeoutSeconds: number
  historyMax: number
  context?: string
}

const common = (a: { namespace: string; context?: string }) => ['--namespace', a.namespace, ...(a.context ? ['--kube-context', a.context] : [])]

/**
 * helm v4: `--wait=watcher` waits for every object to be ready (kstatus), and
 * `--rollback-on-failure` (formerly --atomic) puts the previous revision back when it is not.
 */
export function upgradeArgs(a: UpgradeArgs): string[] {
  return [
    'upgrade',
    '--install',
    a.release,
    a.chart,
    ...a.valueFiles.flatMap((f) => ['-f', f]),
    ...common(a),
    ...(a.createNamespace ? ['--create-namespace'] : []),
    '--wait=watcher',
    '--timeout',
    `${a.timeoutSeconds}s`,
    '--rollback-on-failure',
    '--history-max',
    String(a.historyMax),
    '--output',
    'json',
  ]
}

export function rollbackArgs(a: { release: string; revision?: string; namespace: string; context?: string; timeoutSeconds: number }): string[] {
  return ['rollback', a.release, ...(a.revision ? [a.revision] : []), ...common(a), '--wait=watcher', '--timeout', `${a.timeoutSeconds}s`]
}

export function statusArgs(a: { release: string; namespace: string; context?: string }): string[] {
  return ['status', a.release, ...common(a), '--output', 'json']
}

/** What helm prints with --output json for a release (the fields mlx reads). */
export interface HelmRelease {
  name: string
  namespace: string
  version: number
  info?: { status?: string; notes?: string; description?: string }
}

/**
 * Runs helm. `limit` bounds the whole process: helm's API client sets no deadline on a call, so a
 * cluster that accepts a connection and never answers would hold it forever.
 */
export function runHelm(binary: string, args: string[], signal: AbortSignal, limit?: { ms: number; setting: string }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { signal, timeout: limit?.ms, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HELM_NO_PLUGINS: process.env.HELM_NO_PLUGINS ?? '' } }, (err, stdout, stderr) => {
      if (err && limit && err.killed && !signal.aborted) {
        reject(
          new MlxError('DEPLOY_FAILED', `\`helm ${args[0]}\` did not finish within ${Math.round(limit.ms / 1000)}s and was stopped${stderr.trim() ? `; it said:\n${stderr.trim().split('\n').slice(-15).join('\n')}` : ' (the cluster may accept connections without answering)'}`, {
            hint: `check that the cluster answers (\`kubectl get --raw /version\`), or raise ${limit.setting}. The release may be left pending: \`helm history\` shows it.`,
            cause: err,
          }),
        )
      } else if (err) {
        const tail = String(stderr || err.message).trim().split('\n').slice(-15).join('\n')
        reject(new MlxError('DEPLOY_FAILED', `\`helm ${args[0]}\` failed:\n${tail}`, { hint: args[0] === 'upgrade' ? 'helm put the previous revision back (--rollback-on-failure); `helm history` and `kubectl get events` in the namespace say more.' : 'see helm\'s message above.', cause: err }))
      } else resolve({ stdout, stderr })
    })
  })
}

/** helm's JSON output, which may follow warnings on stdout. */
export function parseRelease(stdout: string): HelmRelease | undefined {
  const start = stdout.indexOf('{')
  if (start < 0) return undefined
  try {
    return JSON.parse(stdout.slice(start)) as HelmRelease
  } catch {
    return undefined
  }
}

/** A command line to show a person (plan, logs): quoted where needed. */
export const showCommand = (bin: string, args: string[]) => [path.basename(bin), ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')
