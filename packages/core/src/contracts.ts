/**
 * The small interfaces every plugin implements. Core depends only on these; runtimes and
 * targets live in their own packages and are found through the plugin registry.
 */
import type { Project, ModelSpec } from './project.js'
import type { Bundle } from './bundle/bundle.js'
import type { Tensor, TensorInfo, Logger, JSONSchema, Credentials, FlagSpec } from './types.js'
import type { HttpClient, HttpClientOptions } from './deploy/http.js'
import type { Poll, WaitOptions } from './deploy/poll.js'
import type { ReleaseFolders } from './deploy/releases.js'
import type { RetryDecision } from './deploy/retry.js'
import type { BuiltImage, ImageDestination, ImageTool, ImageUnavailable, PushedImage } from './deploy/image.js'
import type { FrameOpDefinition, StepDefinition } from './server/op-types.js'

export interface LoadContext {
  readonly projectRoot: string
  readonly log: Logger
}

export interface LoadedModel {
  readonly inputs: readonly TensorInfo[]
  readonly outputs: readonly TensorInfo[]
  /** Free-form facts for /v2/models/{name} (backend, opset, producer...). */
  readonly metadata?: Readonly<Record<string, string>>
  run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>
  dispose(): Promise<void>
}

export interface Runtime {
  readonly name: string
  load(model: ModelSpec, ctx: LoadContext): Promise<LoadedModel>
}

/**
 * Image targets, declared: a target that runs an OCI image says so (`image: {...}`), and core
 * builds the image at package time and pushes it before the target's deploy, through the image
 * tool a plugin provides (the docker plugin's daemonless builder and registry publisher).
 */
export interface ImageRequirement<Config = Record<string, unknown>> {
  /** The port the platform sends traffic to, when the target's config sets it (else the image tool's default, 8080). */
  port?(config: Config): number | undefined
  /** The OS/ARCH the platform runs (else --platform, targets.docker.platform, linux/amd64). */
  platform?(config: Config): string | undefined
  /**
   * Where the image goes and with which login, when the platform has its own registry (Artifact
   * Registry, registry.fly.io). Unset fields fall back to --registry, targets.docker.registry,
   * then ghcr.io/$GITHUB_REPOSITORY_OWNER, with the docker credential lookup.
   */
  destination?(ctx: TargetContext<Config>): ImageDestination | Promise<ImageDestination>
  /**
   * Whether `mlx package` may write the target's own files when the base image cannot be read
   * (they name the image by tag, and deploy stops on the base). Default true; the docker target,
   * whose artifact is the image, says false.
   */
  readonly optionalAtPackage?: boolean
  /** The folder under the target's out dir the image is written to (default 'image'; the docker target's is its own). */
  readonly dir?: string
  /**
   * An image the config names that already exists (e.g. helm's targets.helm.image): core then
   * builds and pushes none, ctx.image is absent, and the target runs that image.
   */
  existing?(config: Config): string | undefined
}

/**
 * What core hands a target: the data (project, its validated config, flags, where to write) and
 * the shared actions (SvelteKit's `builder`), so a target holds only its platform difference.
 */
export interface TargetContext<Config = Record<string, unknown>> {
  readonly project: Project
  /** targets.<name> from the manifest (after the environment overlay), validated against configSchema, defaults filled in. */
  readonly config: Config
  readonly env?: string
  /** Where this target writes its artifact: <project>/.mlx/<target>/ unless --out. */
  readonly outDir: string
  /** Every line passes through the redactor. */
  readonly log: Logger
  readonly signal: AbortSignal
  /** Values read here are registered as secrets: never printed, never recorded. */
  readonly credentials: Credentials
  readonly flags: Readonly<Record<string, unknown>>
  /** This target's deployments in this environment (.mlx/deployments.json). */
  readonly history: TargetHistory
  /** For a target that declares `image`: the image built at package time, and pushed before deploy. */
  readonly image?: ImageHandle

  /** An HTTP client for the platform's API: retries, backoff, Retry-After, timeouts, abort, redaction (defaults from the config's retrySettings). */
  http(opts: HttpClientOptions): HttpClient
  /** Polls until `check` is done, with a deadline, the abort signal and one progress line per status. */
  waitUntil<T>(what: string, check: (look: number) => Promise<Poll<T>>, opts: WaitOptions): Promise<T>
  /** The retry loop the HTTP client uses, for a platform client that is not fetch (gax, kubernetes). */
  retry<T>(what: string, fn: (attempt: number) => Promise<T>, classify: (err: unknown) => RetryDecision): Promise<T>
  /** A deployment record of this target and environment, stamped now and `ready` unless said otherwise. */
  record(fields: DeploymentFields): Deployment
  /** Numbered folders under outDir/<name> (default 'releases'), kept and pruned. */
  releases(name?: string): ReleaseFolders
  /** Registers a value that must never be printed (a token read from a file, a generated password). */
  secret(value: string | undefined): void
}

export type DeploymentFields = Omit<Deployment, 'target' | 'env' | 'time' | 'status' | 'version'> & Partial<Pick<Deployment, 'status' | 'version' | 'time'>>

/** The image of an image target, as the context hands it over. */
export interface ImageHandle {
  /** The OS/ARCH the image (and the bundle's native modules) are for. */
  readonly platform: string
  /** The port the server listens on in the container. */
  readonly port: number
  /** Built at package time; absent when the base image could not be read (see `unavailable`). */
  readonly built?: BuiltImage
  readonly unavailable?: ImageUnavailable
  /** The Dockerfile and its build context, written whether or not the image could be built (a platform may build it itself). */
  readonly files: { readonly dockerfile: string; readonly context: string }
  /** Set before deploy runs: where the image now is, by digest. */
  readonly pushed?: PushedImage
}

export interface Artifact<Details = Record<string, unknown>> {
  readonly target: string
  /** Main paths the user may want: the folder, the image layout, the zip, the chart. */
  readonly paths: Record<string, string>
  readonly version: string
  readonly digest?: string
  readonly details?: Details
  /** For an image target: the image built at package time (set by core, not by the target). */
  readonly image?: { readonly built?: BuiltImage; readonly unavailable?: ImageUnavailable; readonly files: { readonly dockerfile: string; readonly context: string } }
}

export interface PlanStep {
  readonly action: string
  readonly detail: string
}

export interface Plan {
  readonly target: string
  readonly steps: readonly PlanStep[]
}

export interface Deployment {
  readonly target: string
  readonly env?: string
  readonly url?: string
  readonly version: string
  readonly digest?: string
  readonly revision?: string
  readonly time: string
  readonly status: 'ready' | 'failed' | 'stopped' | 'unknown'
  readonly details?: Record<string, unknown>
}

/** The project-wide log (.mlx/deployments.json). */
export interface DeploymentHistory {
  readonly file: string
  list(target?: string): Deployment[]
  latest(target: string, env?: string): Deployment | undefined
  lastReady(target: string, env?: string): Deployment | undefined
  find(target: string, ref: string, env?: string): Deployment | undefined
  previousReady(target: string, env?: string): Deployment | undefined
  append(d: Deployment): void
  forTarget(target: string, env?: string): TargetHistory
}

/** One target's records in one environment (all environments when the context has none). */
export interface TargetHistory {
  readonly file: string
  /** Every record of this target, any environment, oldest first. */
  all(): Deployment[]
  /** The last attempt, whatever its outcome. */
  latest(): Deployment | undefined
  /** What should be serving: the last deployment that became ready. */
  lastReady(): Deployment | undefined
  /** The newest ready deployment whose revision, version or digest (prefix) is `ref`. */
  find(ref: string): Deployment | undefined
  /** The newest ready deployment running something other than lastReady(): a rollback's default. */
  previousReady(): Deployment | undefined
}

/**
 * What `mlx rollback` asks for. `recorded` is resolved by core: the record `ref` names, or with
 * no ref the previous ready one. A target may also know `ref` as a platform name (a Cloud Run
 * revision, a Railway deployment id) that mlx never recorded.
 */
export interface RollbackRequest {
  readonly ref?: string
  readonly recorded?: Deployment
}

/** A target as the registry holds it; write one with `defineTarget` to get `Config` typed from the schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Target<Config = any, Details = any> {
  readonly name: string
  readonly description?: string
  readonly configSchema: JSONSchema
  /** Flags this target adds to `mlx package` and `mlx deploy` (values arrive in ctx.flags). */
  readonly flags?: Readonly<Record<string, FlagSpec>>
  /** Declares that the target runs an OCI image: core builds it at package time and pushes it before deploy. */
  readonly image?: ImageRequirement<Config>
  /** The OS/ARCH the bundle must be built for when --platform is not given (image targets: the image's). */
  bundlePlatform?(ctx: TargetContext<Config>): string | undefined
  package(bundle: Bundle, ctx: TargetContext<Config>): Promise<Artifact<Details>>
  plan(artifact: Artifact<Details>, ctx: TargetContext<Config>): Promise<Plan>
  /**
   * Runs before the image is pushed and before deploy: checks that should fail fast (a token, a
   * project) and what the push needs to exist (a Fly app: its registry repository comes with it).
   * Nothing that serves traffic changes here.
   */
  preflight?(artifact: Artifact<Details>, ctx: TargetContext<Config>): Promise<void>
  deploy(artifact: Artifact<Details>, ctx: TargetContext<Config>): Promise<Deployment>
  status?(ctx: TargetContext<Config>): Promise<Deployment | undefined>
  rollback?(to: RollbackRequest, ctx: TargetContext<Config>): Promise<Deployment>
}

/** What a plugin package's default export is. */
export interface MlxPlugin {
  readonly name: string
  readonly runtimes?: readonly Runtime[]
  readonly targets?: readonly Target[]
  /** Builds and pushes OCI images for every target that declares `image` (the docker plugin provides it). */
  readonly images?: ImageTool
  /** Pre-processing ops over the request frame (e.g. an image decoder), by op name. */
  readonly preprocess?: Readonly<Record<string, FrameOpDefinition>>
  /** Post-processing ops over model outputs, by op name. */
  readonly postprocess?: Readonly<Record<string, StepDefinition>>
}

export function definePlugin(plugin: MlxPlugin): MlxPlugin {
  return plugin
}
