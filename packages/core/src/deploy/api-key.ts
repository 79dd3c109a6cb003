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

/**
 * A platform's health checks send no API key: with server.auth on, the routes they probe must stay
 * public, or every check gets a 401 and the rollout never becomes ready. `probes` names what
 * probes, as the platform calls it; `outcome` says what the 401s would do there.
 */
export function requirePublicHealth(project: Project, probes: string, outcome: string): void {
  const auth = project.server.auth
  if (!auth || auth.public.includes('health')) return
  throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: server.auth.public leaves out 'health', but ${probes}, which send no API key: ${outcome}.`, {
    hint: "keep 'health' in server.auth.public (the default is [health, docs]); /healthz and /readyz only say whether the server is up and its models are loaded.",
    file: project.manifestFile,
  })
}
