import type { Credentials } from './types.js'
import { MlxError } from './errors.js'

/** Credentials from environment variables, looked up by name at the moment they are needed. */
export function envCredentials(env: NodeJS.ProcessEnv = process.env): Credentials {
  const read = (name: string) => {
    const v = env[name]
    return v === undefined || v === '' ? undefined : v
  }
  return {
    get: read,
    setting: read,
    require(names, hint) {
      const list = Array.isArray(names) ? names : [names]
      for (const n of list) {
        const v = env[n]
        if (v) return v
      }
      throw new MlxError('CREDENTIALS_MISSING', `no credentials: set ${list.join(' or ')} in the environment.`, { hint })
    },
  }
}
