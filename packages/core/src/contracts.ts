/**
 * The small interfaces every plugin implements. Core depends only on these; runtimes and
 * targets live in their own packages and are found through the plugin registry.
 */
import type { Project, ModelSpec } from './project.js'
import type { Bundle } from './bundle/bundle.js'
import type { DType, Tensor, TensorInfo, Logger, JSONSchema, Credentials } from './types.js'
import type { FrameOpDefinition } from './server/preprocess.js'
import type { StepDefinition } from './server/steps.js'

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

export interface TargetContext {
  readonly project: Project
  /** targets.<name> from the manifest (after the environment overlay), validated against configSchema. */
  readonly config: Record<string, unknown>
  readonly env?: string
  /** Where this target writes its artifact: <project>/.mlx/<target>/ unless --out. */
  readonly outDir: string
  readonly log: Logger
  readonly signal: AbortSignal
  readonly credentials: Credentials
  readonly flags: Readonly<Record<string, unknown>>
  readonly history: DeploymentHistory
}

export interface Artifact {
  readonly target: string
  /** Main paths the user may want: the folder, the image layout, the zip, the chart. */
  readonly paths: Record<string, string>
  readonly version: string
  readonly digest?: string
  readonly details?: Record<string, unknown>
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

export interface DeploymentHistory {
  list(target?: string): Deployment[]
  latest(target: string, env?: string): Deployment | undefined
  append(d: Deployment): void
}

export interface Target {
  readonly name: string
  readonly description?: string
  readonly configSchema: JSONSchema
  /** The OS/ARCH the bundle must be built for when --platform is not given (images: linux/amd64). */
  bundlePlatform?(config: Record<string, unknown>, flags: Readonly<Record<string, unknown>>, project?: Project): string | undefined
  package(bundle: Bundle, ctx: TargetContext): Promise<Artifact>
  plan(artifact: Artifact, ctx: TargetContext): Promise<Plan>
  deploy(artifact: Artifact, ctx: TargetContext): Promise<Deployment>
  status?(ctx: TargetContext): Promise<Deployment | undefined>
  rollback?(to: Deployment | undefined, ctx: TargetContext): Promise<Deployment>
}

/** What a plugin package's default export is. */
export interface MlxPlugin {
  readonly name: string
  readonly runtimes?: readonly Runtime[]
  readonly targets?: readonly Target[]
  /** Pre-processing ops over the request frame (e.g. an image decoder), by op name. */
  readonly preprocess?: Readonly<Record<string, FrameOpDefinition>>
  /** Post-processing ops over model outputs, by op name. */
  readonly postprocess?: Readonly<Record<string, StepDefinition>>
}

export function definePlugin(plugin: MlxPlugin): MlxPlugin {
  return plugin
}
