import { MlxError, type TargetContext } from '@mlx/core'
import { findCredentials } from '@mlx/target-docker'
import type { Settings } from './config.js'

/**
 * Registry credentials Railway pulls a private image with (REGISTRY/REPO, by host); only a
 * long-lived token will do, since Railway pulls again on every restart and rollback.
 */
export async function pullCredentials(ctx: Pick<TargetContext<unknown>, 'credentials' | 'secret'>, s: Settings, image: string): Promise<{ username: string; password: string } | undefined> {
  if (!s.cfg.privateImage) return undefined
  const host = image.slice(0, image.indexOf('/'))
  const found = await findCredentials(host, ctx.credentials, { destination: true })
  if (!found) {
    throw new MlxError('CREDENTIALS_MISSING', `targets.railway.privateImage is set, but there are no credentials for ${host} to give Railway.`, {
      hint: host === 'ghcr.io' ? 'set GHCR_TOKEN to a personal access token with read:packages (or make the GHCR package public and drop privateImage).' : 'set MLX_REGISTRY_USER and MLX_REGISTRY_PASSWORD (a read-only token is enough).',
    })
  }
  if (found.source === 'GITHUB_TOKEN') {
    throw new MlxError('CREDENTIALS_MISSING', 'Railway would pull the private image with GITHUB_TOKEN, which expires when the CI job ends: restarts and rollbacks would then fail to pull.', {
      hint: 'store a personal access token with read:packages as GHCR_TOKEN (repository secret), or make the GHCR package public and drop privateImage.',
    })
  }
  if (found.kind === 'identity-token') {
    throw new MlxError('CREDENTIALS_MISSING', `the credentials for ${host} (from ${found.source}) are an identity token, which only a token service accepts: Railway needs a user name and a password or access token to pull.`, {
      hint: 'set MLX_REGISTRY_USER and MLX_REGISTRY_PASSWORD to a read-only token for the registry.',
    })
  }
  // It goes into a mutation's variables: masked should Railway ever echo them.
  ctx.secret(found.password)
  return { username: found.username, password: found.password }
}
