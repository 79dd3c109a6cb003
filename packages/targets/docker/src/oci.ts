/**
 * The OCI image format's few shapes (image-spec v1.1) and their Docker v2 twins, which registries
 * treat as interchangeable. Only the fields mlx reads or writes are typed; the rest is kept as is.
 */
import { createHash } from 'node:crypto'

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const

/** What a registry is asked for when a manifest is fetched by tag: any single image or index. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ')

export const isIndex = (mediaType: string | undefined) => mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList
export const isManifest = (mediaType: string | undefined) => mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest

export interface Platform {
  readonly os: string
  readonly architecture: string
  readonly variant?: string
}

export interface Descriptor {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
  readonly annotations?: Record<string, string>
  readonly platform?: Platform
}

export interface ImageManifest {
  readonly schemaVersion: 2
  readonly mediaType?: string
  readonly config: Descriptor
  readonly layers: readonly Descriptor[]
  readonly annotations?: Record<string, string>
}

export interface ImageIndex {
  readonly schemaVersion: 2
  readonly mediaType?: string
  readonly manifests: readonly Descriptor[]
  readonly annotations?: Record<string, string>
}

export interface HistoryEntry {
  created?: string
  created_by?: string
  comment?: string
  empty_layer?: boolean
  author?: string
}

export interface ImageConfig {
  architecture: string
  os: string
  variant?: string
  created?: string
  author?: string
  config?: {
    User?: string
    ExposedPorts?: Record<string, object>
    Env?: string[]
    Entrypoint?: string[] | null
    Cmd?: string[] | null
    WorkingDir?: string
    Labels?: Record<string, string>
    StopSignal?: string
    [k: string]: unknown
  }
  rootfs: { type: 'layers'; diff_ids: string[] }
  history?: HistoryEntry[]
  [k: string]: unknown
}

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

/** `sha256:<64 hex>`; anything else is refused before it becomes a path or a URL. */
export function checkDigest(d: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(d)) throw new Error(`not a sha256 digest: ${JSON.stringify(d)}`)
  return d
}

/** Canonical-enough JSON for manifests and configs: stable key order as built, no whitespace. */
export const jsonBytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))

/** docker/OCI platform names from Node's (x64 → amd64) and back. */
export function parseImagePlatform(p: string): Platform {
  const [os, arch, variant] = p.split('/')
  const archMap: Record<string, string> = { amd64: 'amd64', x86_64: 'amd64', x64: 'amd64', arm64: 'arm64', aarch64: 'arm64', arm: 'arm', ppc64le: 'ppc64le', s390x: 's390x' }
  const architecture = arch ? archMap[arch] : undefined
  if (!os || !architecture) throw new Error(`platform '${p}' is not OS/ARCH (e.g. linux/amd64, linux/arm64)`)
  return { os, architecture, ...(variant ? { variant } : {}) }
}

export const nodeArch = (architecture: string): string => ({ amd64: 'x64', arm64: 'arm64', arm: 'arm' })[architecture] ?? architecture

export const platformString = (p: Platform): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`

/** An index entry fits when os and architecture agree, and the variant too when both name one. */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false
  if (have.os !== want.os || have.architecture !== want.architecture) return false
  if (want.variant && have.variant && want.variant !== have.variant) return false
  return true
}
