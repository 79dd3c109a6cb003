import type { Bundle } from '../bundle/bundle.js'
import type { Project } from '../project.js'
import type { Credentials, FlagSpec, Logger } from '../types.js'
import type { Redactor } from './redact.js'

export interface ImageDestination {
  /** HOST[:PORT]/NAMESPACE; the repository is NAMESPACE/<project name> unless `repository` is given. */
  readonly registry?: string
  /** The whole repository path on the registry (e.g. a Fly app name). */
  readonly repository?: string
  /** The login to push with (else the docker credential lookup for the registry). */
  readonly login?: RegistryLogin
}

export interface RegistryLogin {
  readonly username: string
  readonly password: string
  /** Where it came from, for messages (never the value). */
  readonly source: string
}

/** An image as built at package time: an OCI layout on disk, and the Dockerfile that builds the same. */
export interface BuiltImage {
  readonly digest: string
  readonly platform: string
  readonly port: number
  /** Tags the push sets: the manifest version, model-<digest>, and any extra. */
  readonly tags: readonly string[]
  readonly paths: { readonly layout: string; readonly dockerfile: string; readonly context: string }
  /** Builder facts for plans and records (base, layers, sizes). */
  readonly details: Readonly<Record<string, unknown>>
}

/** Why no image was built at package time (the base image could not be read). */
export interface ImageUnavailable {
  readonly message: string
  readonly hint?: string
}

/** Where an image is after the push. */
export interface PushedImage {
  /** REGISTRY/REPOSITORY, without tag or digest. */
  readonly image: string
  /** REGISTRY/REPOSITORY@sha256:…: what a platform should run (a tag can move, a digest cannot). */
  readonly ref: string
  readonly digest: string
  /** REGISTRY/REPOSITORY:TAG for each tag. */
  readonly tags: readonly string[]
  readonly platform: string
  /** Blobs uploaded, mounted, already there, retried. */
  readonly stats: Readonly<Record<string, number>>
  /** Builder facts worth recording (base image). */
  readonly details?: Readonly<Record<string, unknown>>
}

export interface ImageBuildRequest {
  readonly project: Project
  /** Where the layout, Dockerfile and context go. */
  readonly outDir: string
  readonly platform: string
  readonly port: number
  readonly flags: Readonly<Record<string, unknown>>
  readonly log: Logger
  readonly signal: AbortSignal
  readonly credentials: Credentials
}

export interface ImagePushRequest extends ImageDestination {
  readonly project: Project
  readonly flags: Readonly<Record<string, unknown>>
  readonly log: Logger
  readonly signal: AbortSignal
  readonly credentials: Credentials
  readonly redactor: Redactor
}

/** What the plugin that builds images provides (MlxPlugin.images). */
export interface ImageTool {
  /** Flags of every image target (--base, --registry, --tag, ...). */
  readonly flags: Readonly<Record<string, FlagSpec>>
  /** The platform an image target builds for by default (its settings, else linux/amd64). */
  platform(project: Project, flags: Readonly<Record<string, unknown>>): string
  /** The port the server listens on in images by default. */
  port(project: Project): number
  /** Builds the image; a base image that cannot be read is an MlxError with code BUNDLE_FAILED. */
  build(bundle: Bundle, req: ImageBuildRequest): Promise<BuiltImage>
  /** The Dockerfile and build context alone (base unpinned, never read). */
  buildContext(bundle: Bundle, req: ImageBuildRequest): Promise<{ dockerfile: string; context: string }>
  /** Pushes a built image; only the blobs the registry lacks are sent, the manifest last. */
  push(image: BuiltImage, req: ImagePushRequest): Promise<PushedImage>
  /** REGISTRY/REPOSITORY the image would be pushed to (for plans and files written before the push). */
  repository(req: ImageDestination & { project: Project; flags: Readonly<Record<string, unknown>>; credentials: Credentials }): string | undefined
}
