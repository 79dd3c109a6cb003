import { execFile } from 'node:child_process'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Artifact, type Bundle, type Deployment, type Target, type TargetContext } from '@mlx/core'
import { findCredentials, type BasicCredentials } from './auth.js'
import { renderDockerfile } from './dockerfile.js'
import { buildImage, formatBytes, type LayerInfo } from './image.js'
import { nodeArch, parseImagePlatform, platformString, type Descriptor } from './oci.js'
import { pushImage } from './push.js'
import { formatRef, isValidTag, parseBaseSource, parseDestination, type Destination } from './reference.js'
import { RegistryClient, RegistryError, type PushStats } from './registry.js'

export const DEFAULT_BASE = 'docker.io/library/node:20-bookworm-slim'

interface DockerConfig {
  base: string
  registry?: string
  platform: string
  tags: string[]
  insecureRegistry: boolean
  labels: Record<string, string>
  user: string
  port: number
  source?: string
  chunkSize: number
  retries: number
}

const configSchema = {
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
  },
} as const

/** Flags win over targets.docker in mlx.yaml, which wins over the defaults. */
export function settings(ctx: TargetContext) {
  const cfg = ctx.config as unknown as DockerConfig
  const f = ctx.flags
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : [])
  const owner = ctx.credentials.get('GITHUB_REPOSITORY_OWNER')
  return {
    cfg,
    base: str(f.base) ?? cfg.base ?? DEFAULT_BASE,
    registry: str(f.registry) ?? cfg.registry ?? (owner ? `ghcr.io/${owner.toLowerCase()}` : undefined),
    platform: str(f.platform) ?? cfg.platform ?? 'linux/amd64',
    extraTags: [...(cfg.tags ?? []), ...list(f.tag)],
    insecure: f['insecure-registry'] === true || cfg.insecureRegistry === true,
  }
}

function run(cmd: string, args: string[], cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 5000 }, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined))
  })
}

/** git@github.com:o/r.git and https://x@github.com/o/r.git → https://github.com/o/r */
export function sourceUrl(remote: string | undefined): string | undefined {
  if (!remote) return undefined
  const scp = /^[^@/]+@([^:]+):(.+?)(?:\.git)?$/.exec(remote)
  if (scp) return `https://${scp[1]}/${scp[2]}`
  try {
    const u = new URL(remote)
    if (u.protocol === 'file:') return undefined
    return `https://${u.host}${u.pathname.replace(/\.git$/, '')}`
  } catch {
    return undefined
  }
}

export const versionTag = (v: string) => v.replace(/\+/g, '-').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128)
export const modelTag = (modelDigest: string) => `model-${modelDigest.replace(/^sha256:/, '').slice(0, 12)}`

interface ArtifactDetails {
  image?: string
  tags: string[]
  platform: string
  base: { ref: string; digest: string; registry?: string; repository?: string }
  manifest: Descriptor
  layers: LayerInfo[]
  sizes: { compressed: number; base: number; added: number; addedUncompressed: number }
}

function destination(ctx: TargetContext, registry: string | undefined): Destination {
  if (!registry) {
    throw new MlxError('USAGE', 'the docker target needs a registry to push to.', {
      hint: 'pass --registry HOST[:PORT]/NAMESPACE (e.g. ghcr.io/acme or 127.0.0.1:5000/mlx), or set targets.docker.registry in mlx.yaml.',
    })
  }
  try {
    return parseDestination(registry, ctx.project.name)
  } catch (err) {
    throw new MlxError('USAGE', `--registry: ${(err as Error).message}`, { hint: 'the form is HOST[:PORT]/NAMESPACE, e.g. ghcr.io/acme.' })
  }
}

function tryDestination(registry: string | undefined, name: string): Destination | undefined {
  try {
    return registry ? parseDestination(registry, name) : undefined
  } catch {
    return undefined // package does not need it; deploy reports the error
  }
}

function tagsFor(version: string, modelDigest: string, extra: readonly string[]): string[] {
  const tags = [...new Set([versionTag(version), modelTag(modelDigest), ...extra])]
  const bad = tags.filter((t) => !isValidTag(t))
  if (bad.length) throw new MlxError('USAGE', `invalid image tag(s): ${bad.join(', ')}`, { hint: 'tags are 1-128 characters of A-Z a-z 0-9 _ . -, not starting with . or -.' })
  return tags
}

const sum = (ls: readonly LayerInfo[]) => ls.reduce((n, l) => n + l.size, 0)

/** SOURCE_DATE_EPOCH (reproducible builds) or 0, and the OCI `created` it gives. */
function buildEpoch(): { epoch: number; created: string } {
  const text = process.env.SOURCE_DATE_EPOCH
  const epoch = text && /^\d+$/.test(text) ? Number(text) : 0
  return { epoch, created: new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z') }
}

/** The image's OCI labels: what it is, where its source is, which models and app it carries. */
async function imageLabels(bundle: Bundle, cfg: DockerConfig, created: string): Promise<Record<string, string>> {
  const project = bundle.project
  const [revision, remote] = await Promise.all([run('git', ['rev-parse', 'HEAD'], project.root), cfg.source ? undefined : run('git', ['remote', 'get-url', 'origin'], project.root)])
  const source = cfg.source ?? sourceUrl(remote)
  return {
    'org.opencontainers.image.title': project.name,
    ...(project.description ? { 'org.opencontainers.image.description': project.description.trim() } : {}),
    'org.opencontainers.image.version': project.version,
    'org.opencontainers.image.created': created,
    ...(source ? { 'org.opencontainers.image.source': source } : {}),
    ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
    'dev.mlx.model.digest': bundle.info.modelDigest,
    'dev.mlx.app.digest': bundle.info.appDigest,
    ...cfg.labels,
  }
}

/** Moves the bundle to `outDir/context` and writes `outDir/Dockerfile` building the same image FROM `base`. */
async function writeBuildContext(
  bundle: Bundle,
  outDir: string,
  opts: { base: string; cfg: DockerConfig; labels: Record<string, string>; platform: string; note?: string },
): Promise<{ dockerfile: string; context: string }> {
  const project = bundle.project
  await mkdir(outDir, { recursive: true })
  const context = path.join(outDir, 'context')
  const models = Object.values(project.models).map((m) => path.relative(project.root, m.path).split(path.sep).join('/'))
  if (path.resolve(bundle.dir) !== context) {
    await rm(context, { recursive: true, force: true })
    await rename(bundle.dir, context)
  }
  const dockerfile = path.join(outDir, 'Dockerfile')
  await writeFile(dockerfile, renderDockerfile({ base: opts.base, models, user: opts.cfg.user, port: opts.cfg.port, env: project.env, labels: opts.labels, platform: opts.platform, note: opts.note }))
  return { dockerfile, context }
}

/**
 * The Dockerfile and its build context alone, FROM the base as configured (not pinned): what a
 * platform that builds the image itself needs (`railway up`), written without reading the base,
 * so it works when the base image cannot be reached.
 */
export async function packageBuildContext(bundle: Bundle, ctx: TargetContext): Promise<{ dockerfile: string; context: string }> {
  const s = settings(ctx)
  const platform = parseImagePlatform(s.platform)
  const labels = await imageLabels(bundle, s.cfg, buildEpoch().created)
  const oci = s.base.startsWith('oci:')
  return writeBuildContext(bundle, ctx.outDir, {
    base: oci ? DEFAULT_BASE : s.base,
    cfg: s.cfg,
    labels,
    platform: platformString(platform),
    note: oci ? `the base is an OCI layout (${s.base}); docker build cannot read one, so BASE defaults to ${DEFAULT_BASE}.` : undefined,
  })
}

/**
 * Dockerfile + build context for `docker build`, and the same image built without a daemon as an
 * OCI layout; `deploy` pushes that layout to any OCI registry (GHCR, Docker Hub, a local one).
 */
export const dockerTarget: Target & { bundlePlatform(config: Record<string, unknown>, flags: Readonly<Record<string, unknown>>): string } = {
  name: 'docker',
  /**
   * The platform the bundle's node_modules must be pruned for: the image's, not this machine's.
   * (A hook for the CLI: flow.ts can pass it to buildBundle when --platform is not given.)
   */
  bundlePlatform(config, flags) {
    return (typeof flags.platform === 'string' && flags.platform) || (config.platform as string | undefined) || 'linux/amd64'
  },
  description: 'OCI image built without a Docker daemon (plus a Dockerfile), pushed to GHCR or any OCI registry.',
  configSchema,

  async package(bundle, ctx): Promise<Artifact> {
    const s = settings(ctx)
    const cfg = s.cfg
    let platform
    let base
    try {
      platform = parseImagePlatform(s.platform)
      base = parseBaseSource(s.base)
    } catch (err) {
      throw new MlxError('USAGE', (err as Error).message, { hint: 'e.g. --platform linux/amd64 --base docker.io/library/node:20-bookworm-slim (or oci:PATH).' })
    }
    const bp = bundle.info.platform
    if (bp.os !== platform.os || bp.arch !== nodeArch(platform.architecture)) {
      throw new MlxError('USAGE', `the bundle's node_modules were pruned for ${bp.os}/${bp.arch}, but the image is ${platformString(platform)}: native modules would not load.`, {
        hint: `pass --platform ${platformString(platform)} so the bundle is built for the image.`,
      })
    }
    const { epoch, created } = buildEpoch()
    const project = bundle.project
    const labels = await imageLabels(bundle, cfg, created)
    const tags = tagsFor(project.version, bundle.info.modelDigest, s.extraTags)
    const dest = tryDestination(s.registry, project.name)

    await mkdir(ctx.outDir, { recursive: true })
    const built = await buildImage(
      bundle,
      path.join(ctx.outDir, 'oci'),
      { base, platform, user: cfg.user, port: cfg.port, env: project.env, labels, epoch, refNames: tags },
      {
        log: ctx.log,
        pinFile: path.join(ctx.outDir, 'base.json'),
        registry: (name) =>
          new RegistryClient({ registry: name, insecure: s.insecure && name === dest?.registry, log: ctx.log, signal: ctx.signal, attempts: cfg.retries + 1 }),
      },
    ).catch(async (err: unknown) => {
      if (err instanceof MlxError) throw err
      throw new MlxError('BUNDLE_FAILED', `could not build the image: ${(err as Error).message}`, {
        hint: base.kind === 'registry' ? `check that ${formatRef(base.ref)} exists and is reachable (or use --base oci:PATH for a local OCI layout).` : 'check the OCI layout given to --base.',
        cause: err,
      })
    })

    // The bundle becomes the Dockerfile's build context.
    const pinnedBase = built.base.registry ? `${built.base.ref.replace(/@sha256:[a-f0-9]+$/, '')}@${built.base.digest}` : s.base.startsWith('oci:') ? DEFAULT_BASE : s.base
    const { dockerfile, context } = await writeBuildContext(bundle, ctx.outDir, {
      base: pinnedBase,
      cfg,
      labels,
      platform: platformString(platform),
      note: s.base.startsWith('oci:') ? `mlx built its image on ${s.base}; docker build cannot read an OCI layout, so BASE defaults to ${DEFAULT_BASE}.` : undefined,
    })

    const baseLayers = built.layers.filter((l) => l.name === 'base')
    const added = built.layers.filter((l) => l.name !== 'base')
    ctx.log.info(`  layer  base          ${formatBytes(sum(baseLayers)).padStart(9)} gz  (${baseLayers.length} layer${baseLayers.length === 1 ? '' : 's'} of ${built.base.ref})`)
    for (const l of added) {
      ctx.log.info(`  layer  ${l.name.padEnd(12)}  ${formatBytes(l.size).padStart(9)} gz  ${formatBytes(l.uncompressedSize ?? 0).padStart(9)} tar  ${String(l.files).padStart(5)} files  ${l.digest.slice(0, 19)}`)
    }
    ctx.log.info(`  image  ${built.manifest.digest}  ${formatBytes(sum(built.layers))} compressed (base ${formatBytes(sum(baseLayers))} + mlx ${formatBytes(sum(added))})`)

    const details: ArtifactDetails = {
      ...(dest ? { image: `${dest.registry}/${dest.repository}` } : {}),
      tags,
      platform: platformString(platform),
      base: { ref: built.base.ref, digest: built.base.digest, registry: built.base.registry, repository: built.base.repository },
      manifest: built.manifest,
      layers: built.layers.map((l) => ({ ...l })),
      sizes: { compressed: sum(built.layers), base: sum(baseLayers), added: sum(added), addedUncompressed: added.reduce((n, l) => n + (l.uncompressedSize ?? 0), 0) },
    }
    return {
      target: 'docker',
      version: project.version,
      digest: built.manifest.digest,
      paths: { layout: built.layoutDir, dockerfile, context },
      details: details as unknown as Record<string, unknown>,
    }
  },

  async plan(artifact, ctx) {
    const s = settings(ctx)
    const d = artifact.details as unknown as ArtifactDetails
    const dest = s.registry ? destination(ctx, s.registry) : undefined
    const where = dest ? `${dest.registry}/${dest.repository}` : '(no registry: pass --registry HOST[:PORT]/NAMESPACE)'
    const sameRegistry = dest && d.base.registry === dest.registry && d.base.repository
    return {
      target: 'docker',
      steps: [
        { action: 'check', detail: `HEAD ${d.layers.length + 1} blobs in ${where}; only missing ones are sent` },
        ...(sameRegistry ? [{ action: 'mount', detail: `base layers from ${d.base.repository} (same registry: no upload)` }] : []),
        { action: 'upload', detail: `missing blobs of ${d.layers.length} layers (${formatBytes(d.sizes.compressed)} at most; the mlx layers are ${formatBytes(d.sizes.added)})` },
        { action: 'tag', detail: `PUT manifest ${artifact.digest} as ${d.tags.map((t) => `${where}:${t}`).join(', ')}` },
      ],
    }
  },

  async deploy(artifact, ctx): Promise<Deployment> {
    const s = settings(ctx)
    const pushed = await pushArtifact(artifact, ctx, { registry: s.registry })
    return {
      target: 'docker',
      env: ctx.env,
      url: pushed.ref,
      version: artifact.version,
      digest: pushed.digest,
      time: new Date().toISOString(),
      status: 'ready',
      details: { image: pushed.image, tags: pushed.tags, platform: pushed.platform, base: pushed.base, ...pushed.stats },
    }
  },

  async status(ctx) {
    const last = ctx.history.latest('docker', ctx.env)
    if (!last?.digest || !last.details?.image) return last
    const image = String(last.details.image)
    const slash = image.indexOf('/')
    const registry = image.slice(0, slash)
    const repo = image.slice(slash + 1)
    const s = settings(ctx)
    const client = new RegistryClient({ registry, insecure: s.insecure, credentials: await findCredentials(registry, ctx.credentials, { destination: true }), log: ctx.log, signal: ctx.signal, attempts: 2 })
    const there = await client.hasManifest(repo, last.digest).catch(() => undefined)
    return { ...last, status: there ? 'ready' : 'unknown' }
  },
}

export interface PushedImage {
  /** REGISTRY/REPOSITORY, without tag or digest. */
  readonly image: string
  /** REGISTRY/REPOSITORY@sha256:…: what a platform should run (a tag can move, a digest cannot). */
  readonly ref: string
  readonly digest: string
  readonly tags: string[]
  readonly platform: string
  readonly base: ArtifactDetails['base']
  readonly stats: PushStats
}

/**
 * Pushes an image artifact (from this target's package) to `registry`: the docker target's own
 * deploy, and the step every image-based target (cloudrun, railway, helm) takes before it tells its
 * platform to run the image. Credentials default to the docker lookup (MLX_REGISTRY_*, GHCR
 * tokens, ~/.docker/config.json); a target with its own (Cloud Run's access token) passes them.
 */
export async function pushArtifact(
  artifact: Artifact,
  ctx: TargetContext,
  opts: { registry: string | undefined; credentials?: BasicCredentials; insecure?: boolean },
): Promise<PushedImage> {
  const s = settings(ctx)
  const cfg = s.cfg
  const d = artifact.details as unknown as ArtifactDetails
  const dest = destination(ctx, opts.registry)
  const credentials = opts.credentials ?? (await findCredentials(dest.registry, ctx.credentials, { destination: true }))
  if (!credentials && dest.registry === 'ghcr.io') {
    throw new MlxError('CREDENTIALS_MISSING', 'pushing to ghcr.io needs a token.', {
      hint: 'set GITHUB_TOKEN (in Actions, with `permissions: packages: write`) or GHCR_TOKEN (a PAT with write:packages), or `docker login ghcr.io`.',
    })
  }
  const insecure = opts.insecure ?? s.insecure
  const client = new RegistryClient({ registry: dest.registry, insecure, credentials, log: ctx.log, signal: ctx.signal, attempts: (cfg.retries ?? 4) + 1, chunkSize: cfg.chunkSize })
  const image = `${dest.registry}/${dest.repository}`
  try {
    const result = await ctx.log.step(`Pushing ${image} (${d.tags.join(', ')})`, () =>
      pushImage(client, { layoutDir: artifact.paths.layout!, manifest: d.manifest, dest, tags: d.tags, mountFrom: d.base.registry === dest.registry ? d.base.repository : undefined }, ctx.log),
    )
    const st = result.stats
    ctx.log.info(`  pushed ${result.ref}: ${st.uploaded} blob(s) uploaded (${formatBytes(st.uploadedBytes)}), ${st.mounted} mounted, ${st.existing} already there${st.retries ? `, ${st.retries} retried` : ''}`)
    return { image, ref: result.ref, digest: result.digest, tags: d.tags.map((t) => `${image}:${t}`), platform: d.platform, base: d.base, stats: st }
  } catch (err) {
    if (err instanceof MlxError || !(err instanceof RegistryError || err instanceof TypeError || (err as Error).name === 'TimeoutError')) throw err
    const st = client.stats
    throw new MlxError('DEPLOY_FAILED', `pushing ${image} failed: ${(err as Error).message}. ${st.uploaded} blob(s) were uploaded before it stopped; no manifest was written.`, {
      hint:
        (err as RegistryError).status === 401 || (err as RegistryError).status === 403
          ? `check the registry credentials${credentials ? ` (from ${credentials.source})` : ''} (MLX_REGISTRY_USER/MLX_REGISTRY_PASSWORD, GITHUB_TOKEN/GHCR_TOKEN for ghcr.io, or ~/.docker/config.json).`
          : 'run the same deploy again: blobs already in the registry are not sent twice, and the manifest is written only once every blob is there.',
      cause: err,
    })
  }
}
