import { MlxError, type TargetContext } from '@mlx/core'
import type { Settings } from './config.js'

/** PORT, the manifest's env, then secrets as Railway references (values never leave Railway). */
export function variablesFor(ctx: Pick<TargetContext<unknown>, 'project'>, s: Settings, port: number): Record<string, string> {
  const clash = Object.keys(s.secrets).filter((k) => k in ctx.project.env || k === 'PORT')
  if (clash.length) {
    throw new MlxError('TARGET_CONFIG_INVALID', `targets.railway.secrets names ${clash.join(', ')}, which ${clash.length === 1 ? 'is' : 'are'} also set by env: in mlx.yaml (or is PORT).`, {
      hint: 'a variable is either a plain value in env: or a secret reference, not both.',
      file: ctx.project.manifestFile,
    })
  }
  return { ...ctx.project.env, PORT: String(port), ...s.secrets }
}
