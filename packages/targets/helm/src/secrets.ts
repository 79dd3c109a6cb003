import { MlxError, requireKeyDelivery, requirePublicHealth, type Project } from '@mlx/core'
import type { HelmConfig } from './config.js'
import type { Values } from './values.js'

/** A container variable's `valueFrom.secretKeyRef`: a Secret in the release namespace and a key of its data. */
export interface SecretKeyRef {
  name: string
  key: string
}

export type SecretRef = HelmConfig['secrets'][string]

const MAX_SECRET_NAME = 253

/**
 * `ENV: SECRET`, `ENV: SECRET:KEY` or `ENV: {secret, key}` → secretKeyRef. The key defaults to
 * the variable's name: `kubectl create secret generic SECRET --from-literal=ENV=…` then just works.
 * The schema has checked the shapes; what a pattern cannot say (the 253 characters) is checked here.
 */
export function secretKeyRef(envName: string, ref: SecretRef): SecretKeyRef {
  let name: string
  let key: string | undefined
  if (typeof ref === 'string') {
    const at = ref.indexOf(':')
    name = at < 0 ? ref : ref.slice(0, at)
    key = at < 0 ? undefined : ref.slice(at + 1)
  } else {
    name = ref.secret
    key = ref.key
  }
  if (name.length > MAX_SECRET_NAME) {
    throw new MlxError('TARGET_CONFIG_INVALID', `targets.helm.secrets.${envName}: the Secret name is ${name.length} characters; Kubernetes allows at most ${MAX_SECRET_NAME}.`, { hint: 'use a shorter name (a DNS-1123 subdomain: lowercase letters, digits, - and .).' })
  }
  return { name, key: key ?? envName }
}

/** targets.helm.secrets as the chart's `secretEnv` value: variable → {name, key}. */
export function secretEnvFor(cfg: HelmConfig): Record<string, SecretKeyRef> {
  return Object.fromEntries(Object.entries(cfg.secrets ?? {}).map(([env, ref]) => [env, secretKeyRef(env, ref)]))
}

/**
 * A variable is either a value or a secret reference, never both: with both, which one the
 * container sees depends on their order in the pod spec, and the value is in the chart. PORT is
 * the chart's own (from containerPort).
 */
export function checkSecretNames(project: Project, env: string | undefined, cfg: HelmConfig): void {
  const decl = project.decl
  const secretsAt = env && (decl.environments?.[env]?.targets as Record<string, { secrets?: object }> | undefined)?.helm?.secrets ? `targets.helm.secrets (with environments.${env})` : 'targets.helm.secrets'
  const extra = (cfg.values as { env?: unknown } | undefined)?.env
  const valuesEnv = extra && typeof extra === 'object' ? (extra as Record<string, unknown>) : {}
  for (const name of Object.keys(cfg.secrets ?? {})) {
    const where =
      name === 'PORT'
        ? 'the chart itself (PORT is set from the container port)'
        : env && decl.environments?.[env]?.env && name in decl.environments[env]!.env!
          ? `environments.${env}.env`
          : decl.env && name in decl.env
            ? 'env:'
            : name in valuesEnv
              ? 'targets.helm.values.env'
              : undefined
    if (!where) continue
    throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: ${name} is both a plain value (${where}) and a secret reference (${secretsAt}.${name})${env ? ` in environment ${env}` : ''}; a variable is one or the other.`, {
      hint: name === 'PORT' ? `PORT cannot come from a Secret: remove it from targets.helm.secrets.` : `keep the secret reference and remove ${name} from ${where} (a value there is written into the image and the chart), or drop it from targets.helm.secrets.`,
      file: project.manifestFile,
    })
  }
}

const PROBES = ['startupProbe', 'livenessProbe', 'readinessProbe'] as const

/**
 * server.auth on Kubernetes: the key has to come from a Secret (targets.helm.secrets), and the
 * chart's httpGet probes, which send no key, need /healthz and /readyz left public.
 */
export function checkAuth(project: Project, cfg: HelmConfig, values: Values): void {
  const auth = project.server.auth
  if (!auth) return
  const secret = auth.env.toLowerCase().replace(/_/g, '-')
  requireKeyDelivery(
    project,
    'helm',
    Object.keys(cfg.secrets ?? {}),
    `add \`targets.helm.secrets: { ${auth.env}: { secret: ${secret} } }\` to ${project.manifestFile}, and create that Secret in the cluster (the value never goes into the chart or a shell history): openssl rand -hex 32 > ${auth.env} && kubectl create secret generic ${secret} -n ${cfg.namespace} --from-file ${auth.env} && rm ${auth.env}`,
  )
  const probed = PROBES.filter((p) => (values[p] as { httpGet?: unknown } | undefined)?.httpGet)
  if (probed.length) requirePublicHealth(project, `the chart's ${probed.join(', ')} are Kubernetes httpGet probes of /healthz and /readyz`, 'every probe would get a 401, no pod would become ready, and the liveness probe would restart them')
}
