import type { ManifestDecl } from './types.js'

/** Names that say "this is a credential"; a literal value under one is in the image and in git. */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL/i

export interface SecretLiteral {
  /** Where it is written, as a dotted manifest path (env.DB_PASSWORD, targets.fly.env.X, …). */
  readonly at: string
  readonly name: string
}

/**
 * Environment variables written as literals whose names look like secrets: env:, each
 * environment's env:, and each target's env:. Values that are empty or look like references
 * (${...}, Railway's ${{ ... }}) are left alone: they are not the secret itself.
 */
export function secretLiterals(decl: ManifestDecl): SecretLiteral[] {
  const found: SecretLiteral[] = []
  const scan = (env: unknown, at: string) => {
    if (!env || typeof env !== 'object') return
    for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
      if (!SECRET_NAME.test(name)) continue
      if (value === undefined || value === null || value === '' || (typeof value === 'string' && /^\$\{/.test(value))) continue
      found.push({ at: `${at}.${name}`, name })
    }
  }
  scan(decl.env, 'env')
  for (const [env, overlay] of Object.entries(decl.environments ?? {})) {
    scan(overlay?.env, `environments.${env}.env`)
    for (const [t, cfg] of Object.entries(overlay?.targets ?? {})) scan((cfg as { env?: unknown } | undefined)?.env, `environments.${env}.targets.${t}.env`)
  }
  for (const [t, cfg] of Object.entries(decl.targets ?? {})) scan((cfg as { env?: unknown } | undefined)?.env, `targets.${t}.env`)
  return found
}
