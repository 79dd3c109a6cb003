import { MlxError } from '../errors.js'
import type { Project } from '../project.js'

/**
 * server.auth on a platform. The deployed server refuses to start without its key, and the key
 * must reach it from the platform's secret store, never from the image or the chart. A target
 * passes the variables it delivers as secrets; when the key's is not among them the package
 * fails here, naming the setting, instead of the rollout failing on the platform.
 */
export function requireKeyDelivery(project: Project, target: string, delivered: Iterable<string>, hint: string): void {
  const auth = project.server.auth
  if (!auth) return
  for (const name of delivered) if (name === auth.env) return
  throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: server.auth is on, and targets.${target} does not deliver ${auth.env} from a secret: the deployed server would refuse to start without its API key.`, {
    hint,
    file: project.manifestFile,
  })
}
