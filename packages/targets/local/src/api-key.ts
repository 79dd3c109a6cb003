import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { apiKeysFrom, type TargetContext } from '@mlx/core'

export const KEY_FILE = 'api-key'

/**
 * server.auth's key for a release on this machine: the one in the deploying shell's environment
 * when set, else a random one kept in .mlx/local/api-key (0600) and reused by every deploy and
 * rollback, so callers keep working across releases. Its path is printed, never its value.
 */
export async function localApiKey(ctx: Pick<TargetContext<unknown>, 'project' | 'credentials' | 'outDir' | 'secret'>): Promise<{ env: string; key: string; file?: string } | undefined> {
  const auth = ctx.project.server.auth
  if (!auth) return undefined
  const given = ctx.credentials.get(auth.env)
  if (given !== undefined) {
    apiKeysFrom(auth, { [auth.env]: given }) // a short key fails here, before any process starts
    return { env: auth.env, key: given }
  }
  const file = path.join(ctx.outDir, KEY_FILE)
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim()
  if (kept) {
    ctx.secret(kept)
    apiKeysFrom(auth, { [auth.env]: kept })
    return { env: auth.env, key: kept, file }
  }
  const key = randomBytes(32).toString('hex')
  ctx.secret(key)
  await mkdir(ctx.outDir, { recursive: true })
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' })
  await chmod(file, 0o600)
  return { env: auth.env, key, file }
}
