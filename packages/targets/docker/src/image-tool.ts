/**
 * The docker plugin's image tool: what core uses for every target that declares `image`. It
 * builds the image without a daemon at package time (plus the Dockerfile that builds the same)
 * and pushes it to any OCI registry before the target's deploy.
 */
import { execFile } from 'node:child_process'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Bundle, type BuiltImage, type ImageBuildRequest, type ImageTool, type Project, type PushedImage } from '@mlx/core'
import { basicHeader, findCredentials, type BasicCredentials } from './auth.js'
import { DEFAULT_BASE, destination, dockerConfig, imageSettings, tryDestination, type DockerConfig } from './config.js'
import { renderDockerfile } from './dockerfile.js'
import { buildImage, formatBytes, type LayerInfo } from './image.js'
import { nodeArch, parseImagePlatform, platformString, type Descriptor } from './oci.js'
import { pushImage } from './push.js'
import { formatRef, isValidTag, parseBaseSource } from './reference.js'
import { RegistryClient, RegistryError } from './registry.js'

export const versionTag = (v: string) => v.replace(/\+/g, '-').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128)
export const modelTag = (modelDigest: string) => `model-${modelDigest.replace(/^sha256:/, '').slice(0, 12)}`

/** What the builder records about an image (BuiltImage.details). */
export interface ImageDetails {
  [fact: string]: unknown
  base: { ref: string; digest: string; registry?: string; repository?: string }
  manifest: Descriptor
  layers: LayerInfo[]
  sizes: { compressed: number; base: number; added: number; addedUncompressed: number }
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
async function writeBuildContext(bundle: Bundle, outDir: string, opts: { base: string; cfg: DockerConfig; port: number; labels: Record<string, string>; platform: string; note?: string }): Promise<{ dockerfile: string; context: string }> {
  const project = bundle.project
  await mkdir(outDir, { recursive: true })
  const context = path.join(outDir, 'context')
  const models = Object.values(project.models).map((m) => path.relative(project.root, m.path).split(path.sep).join('/'))
  if (path.resolve(bundle.dir) !== context) {
    await rm(context, { recursive: true, force: true })
    await rename(bundle.dir, context)
  }
  const dockerfile = path.join(outDir, 'Dockerfile')
  await writeFile(dockerfile, renderDockerfile({ base: opts.base, models, user: opts.cfg.user, port: opts.port, env: project.env, labels: opts.labels, platform: opts.platform, note: opts.note }))
  return { dockerfile, context }
}

async function build(bundle: Bundle, req: ImageBuildRequest): Promise<BuiltImage> {
  const s = imageSettings(dockerConfig(req.project), { ...req.flags, platform: req.platform }, req.credentials)
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
  const dest = tryDestination(s.registry, project)

  await mkdir(req.outDir, { recursive: true })
  const built = await buildImage(
    bundle,
    path.join(req.outDir, 'oci'),
    { base, platform, user: cfg.user, port: req.port, env: project.env, labels, epoch, refNames: tags },
    {
      log: req.log,
      pinFile: path.join(req.outDir, 'base.json'),
      registry: (name) => new RegistryClient({ registry: name, insecure: s.insecure && name === dest?.registry, log: req.log, signal: req.signal, attempts: cfg.retries + 1, timeoutMs: cfg.requestTimeoutSeconds * 1000 }),
    },
  ).catch(async (err: unknown) => {
    if (err instanceof MlxError) throw err
    throw new MlxError('BUNDLE_FAILED', `could not build the image: ${(err as Error).message}`, {
      hint: base.kind === 'registry' ? `check that ${formatRef(base.ref)} exists and is reachable (or use --base oci:PATH for a local OCI layout).` : 'check the OCI layout given to --base.',
      cause: err,
    })
  })

  // The bundle becomes the Dockerfile's build context.
  const oci = s.base.startsWith('oci:')
  const pinnedBase = built.base.registry ? `${built.base.ref.replace(/@sha256:[a-f0-9]+$/, '')}@${built.base.digest}` : oci ? DEFAULT_BASE : s.base
  const { dockerfile, context } = await writeBuildContext(bundle, req.outDir, {
    base: pinnedBase,
    cfg,
    port: req.port,
    labels,
    platform: platformString(platform),
    note: oci ? `mlx built its image on ${s.base}; docker build cannot read an OCI layout, so BASE defaults to ${DEFAULT_BASE}.` : undefined,
  })

  const baseLayers = built.layers.filter((l) => l.name === 'base')
  const added = built.layers.filter((l) => l.name !== 'base')
  req.log.info(`  layer  base          ${formatBytes(sum(baseLayers)).padStart(9)} gz  (${baseLayers.length} layer${baseLayers.length === 1 ? '' : 's'} of ${built.base.ref})`)
  for (const l of added) {
    req.log.info(`  layer  ${l.name.padEnd(12)}  ${formatBytes(l.size).padStart(9)} gz  ${formatBytes(l.uncompressedSize ?? 0).padStart(9)} tar  ${String(l.files).padStart(5)} files  ${l.digest.slice(0, 19)}`)
  }
  req.log.info(`  image  ${built.manifest.digest}  ${formatBytes(sum(built.layers))} compressed (base ${formatBytes(sum(baseLayers))} + mlx ${formatBytes(sum(added))})`)

  const details: ImageDetails = {
    base: { ref: built.base.ref, digest: built.base.digest, registry: built.base.registry, repository: built.base.repository },
    manifest: built.manifest,
    layers: built.layers.map((l) => ({ ...l })),
    sizes: { compressed: sum(built.layers), base: sum(baseLayers), added: sum(added), addedUncompressed: added.reduce((n, l) => n + (l.uncompressedSize ?? 0), 0) },
  }
  return { digest: built.manifest.digest, platform: platformString(platform), port: req.port, tags, paths: { layout: built.layoutDir, dockerfile, context }, details }
}

/**
 * The Dockerfile and its build context alone, FROM the base as configured (not pinned): what a
 * platform that builds the image itself needs (`railway up`), written without reading the base.
 */
async function buildContext(bundle: Bundle, req: ImageBuildRequest): Promise<{ dockerfile: string; context: string }> {
  const s = imageSettings(dockerConfig(req.project), { ...req.flags, platform: req.platform }, req.credentials)
  const platform = parseImagePlatform(s.platform)
  const labels = await imageLabels(bundle, s.cfg, buildEpoch().created)
  const oci = s.base.startsWith('oci:')
  return writeBuildContext(bundle, req.outDir, {
    base: oci ? DEFAULT_BASE : s.base,
    cfg: s.cfg,
    port: req.port,
    labels,
    platform: platformString(platform),
    note: oci ? `the base is an OCI layout (${s.base}); docker build cannot read one, so BASE defaults to ${DEFAULT_BASE}.` : undefined,
  })
}

export const dockerImages: ImageTool = {
  flags: {
    base: { type: 'string', description: 'base image, a registry reference or oci:PATH[:TAG] of a local OCI layout (default: targets.docker.base, else docker.io/library/node:20-bookworm-slim).' },
    registry: { type: 'string', description: 'where to push, HOST[:PORT]/NAMESPACE; the image is NAMESPACE/<project name>.' },
    tag: { type: 'string', multiple: true, description: 'extra image tag (repeatable); the version and model-<digest> tags are always set.' },
    'insecure-registry': { type: 'boolean', description: 'allow plain HTTP to a registry that is not on localhost.' },
  },
  platform: (project: Project, flags) => imageSettings(dockerConfig(project), flags, { get: () => undefined, setting: () => undefined, require: () => '' }).platform,
  port: (project: Project) => dockerConfig(project).port,
  build,
  buildContext,

  repository(req) {
    const s = imageSettings(dockerConfig(req.project), req.flags, req.credentials)
    const d = tryDestination(req.registry ?? s.registry, req.project, req.repository)
    return d && `${d.registry}/${d.repository}`
  },

  /**
   * Credentials default to the docker lookup (MLX_REGISTRY_*, GHCR tokens, ~/.docker/config.json);
   * a target with its own (Cloud Run's access token, Fly's API token) passes them.
   */
  async push(image, req): Promise<PushedImage> {
    const s = imageSettings(dockerConfig(req.project), req.flags, req.credentials)
    const d = image.details as ImageDetails
    const dest = destination(typeof req.flags.registry === 'string' && req.flags.registry ? req.flags.registry : (req.registry ?? s.registry), req.project, req.repository)
    const found: BasicCredentials | undefined = req.login ? { ...req.login } : await findCredentials(dest.registry, req.credentials, { destination: true })
    if (found) {
      req.redactor.add(found.password)
      // As a registry or a proxy would echo it back: the Basic pair, base64 and not.
      req.redactor.add(basicHeader(found).slice('Basic '.length))
    }
    if (!found && dest.registry === 'ghcr.io') {
      throw new MlxError('CREDENTIALS_MISSING', 'pushing to ghcr.io needs a token.', {
        hint: 'set GITHUB_TOKEN (in Actions, with `permissions: packages: write`) or GHCR_TOKEN (a PAT with write:packages), or `docker login ghcr.io`.',
      })
    }
    const client = new RegistryClient({
      registry: dest.registry,
      insecure: s.insecure,
      credentials: found,
      log: req.log,
      signal: req.signal,
      attempts: (s.cfg.retries ?? 4) + 1,
      chunkSize: s.cfg.chunkSize,
      timeoutMs: s.cfg.requestTimeoutSeconds * 1000,
      secret: (v) => req.redactor.add(v),
    })
    const repo = `${dest.registry}/${dest.repository}`
    try {
      const result = await req.log.step(`Pushing ${repo} (${image.tags.join(', ')})`, () =>
        pushImage(client, { layoutDir: image.paths.layout, manifest: d.manifest, dest, tags: image.tags, mountFrom: d.base.registry === dest.registry ? d.base.repository : undefined }, req.log),
      )
      const st = result.stats
      req.log.info(`  pushed ${result.ref}: ${st.uploaded} blob(s) uploaded (${formatBytes(st.uploadedBytes)}), ${st.mounted} mounted, ${st.existing} already there${st.retries ? `, ${st.retries} retried` : ''}`)
      return { image: repo, ref: result.ref, digest: result.digest, tags: image.tags.map((t) => `${repo}:${t}`), platform: image.platform, stats: { ...st }, details: { base: d.base } }
    } catch (err) {
      if (err instanceof MlxError || !(err instanceof RegistryError || err instanceof TypeError || (err as Error).name === 'TimeoutError')) throw err
      const st = client.stats
      throw new MlxError('DEPLOY_FAILED', req.redactor.redact(`pushing ${repo} failed: ${(err as Error).message}. ${st.uploaded} blob(s) were uploaded before it stopped; no manifest was written.`), {
        hint:
          (err as RegistryError).status === 401 || (err as RegistryError).status === 403
            ? `check the registry credentials${found ? ` (from ${found.source})` : ''} (MLX_REGISTRY_USER/MLX_REGISTRY_PASSWORD, GITHUB_TOKEN/GHCR_TOKEN for ghcr.io, or ~/.docker/config.json).`
            : /no answer within/.test((err as Error).message)
              ? `the registry accepted the connection but did not answer in time; check it, or raise targets.docker.requestTimeoutSeconds (${s.cfg.requestTimeoutSeconds}s) for a slow link. Blobs already there are not sent again.`
              : 'run the same deploy again: blobs already in the registry are not sent twice, and the manifest is written only once every blob is there.',
        cause: err,
      })
    }
  },
}
