import { MlxError, targetConfig, type ConfigOf, type Credentials, type Project } from '@mlx/core'
import { parseDestination, type Destination } from './reference.js'

export const DEFAULT_BASE = 'docker.io/library/node:20-bookworm-slim'

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    base: { type: 'string', default: DEFAULT_BASE, description: 'Base image: a registry reference (pinned by digest once resolved) or oci:PATH[:TAG] of a local OCI layout. Flag: --base.' },
    registry: { type: 'string', description: 'Where to push: HOST[:PORT]/NAMESPACE, e.g. ghcr.io/acme; the image is NAMESPACE/<project name>. Flag: --registry. Default: ghcr.io/$GITHUB_REPOSITORY_OWNER when set.' },
    platform: { type: 'string', default: 'linux/amd64', description: 'OS/ARCH of the image (and of the bundled native modules). Flag: --platform.' },
    tags: { type: 'array', items: { type: 'string' }, default: [], description: 'Tags added to the manifest version and the short model digest. Flag: --tag (repeatable).' },
    insecureRegistry: { type: 'boolean', default: false, description: 'Allow plain HTTP to a registry that is not on localhost. Flag: --insecure-registry.' },
    labels: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra image labels (they win over the generated ones).' },
    user: { type: 'string', default: '10001:10001', description: 'User the server runs as (non-root; numeric works with any base image).' },
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080, description: 'Port the server listens on in the container (PORT, EXPOSE).' },
    source: { type: 'string', description: 'org.opencontainers.image.source label (links a GHCR package to its repository). Default: the git remote "origin".' },
    chunkSize: { type: 'integer', minimum: 65536, default: 16777216, description: 'Blobs above this many bytes are uploaded in chunks of this size.' },
    retries: { type: 'integer', minimum: 0, maximum: 10, default: 4, description: 'Retries per registry request (5xx, 429, dropped connections), with exponential backoff.' },
    requestTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 300, description: 'How long one registry request may take (connect, headers and body; one chunk of an upload is one request) before it is retried or fails.' },
  },
} as const

/** targets.docker after defaults. */
export type DockerConfig = ConfigOf<typeof configSchema>

/** The image settings every image target shares: targets.docker in mlx.yaml, validated with its defaults. */
export function dockerConfig(project: Project): DockerConfig {
  return targetConfig<DockerConfig>({ name: 'docker', configSchema }, project)
}

export interface ImageSettings {
  cfg: DockerConfig
  base: string
  registry?: string
  platform: string
  extraTags: string[]
  insecure: boolean
}

/** Flags win over targets.docker in mlx.yaml, which wins over the defaults. */
export function imageSettings(cfg: DockerConfig, flags: Readonly<Record<string, unknown>>, credentials: Credentials): ImageSettings {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : [])
  const owner = credentials.setting('GITHUB_REPOSITORY_OWNER')
  return {
    cfg,
    base: str(flags.base) ?? cfg.base ?? DEFAULT_BASE,
    registry: str(flags.registry) ?? cfg.registry ?? (owner ? `ghcr.io/${owner.toLowerCase()}` : undefined),
    platform: str(flags.platform) ?? cfg.platform ?? 'linux/amd64',
    extraTags: [...(cfg.tags ?? []), ...list(flags.tag)],
    insecure: flags['insecure-registry'] === true || cfg.insecureRegistry === true,
  }
}

/** Where the image goes: an explicit repository, else NAMESPACE/<project name> on the registry. */
export function destination(registry: string | undefined, project: Project, repository?: string): Destination {
  if (!registry) {
    throw new MlxError('USAGE', 'the image needs a registry to push to.', {
      hint: 'pass --registry HOST[:PORT]/NAMESPACE (e.g. ghcr.io/acme or 127.0.0.1:5000/mlx), or set targets.docker.registry in mlx.yaml.',
    })
  }
  try {
    const d = parseDestination(registry, project.name)
    return repository ? { registry: d.registry, repository } : d
  } catch (err) {
    throw new MlxError('USAGE', `--registry: ${(err as Error).message}`, { hint: 'the form is HOST[:PORT]/NAMESPACE, e.g. ghcr.io/acme.' })
  }
}

export function tryDestination(registry: string | undefined, project: Project, repository?: string): Destination | undefined {
  try {
    return registry ? destination(registry, project, repository) : undefined
  } catch {
    return undefined // package does not need it; deploy reports the error
  }
}
