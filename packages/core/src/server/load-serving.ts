import type { LoadedModel, Runtime } from '../contracts.js'
import type { Logger } from '../types.js'
import { MlxError, isMlxError } from '../errors.js'
import type { Project } from '../project.js'
import { compileEndpoint, type EndpointFn } from './endpoint.js'
import type { Handler } from './handler.js'
import type { Metrics } from './metrics.js'
import { ModelRunner } from './model-runner.js'

export interface ServingOptions {
  /** Finds the runtime for a model (the plugin registry's runtime(), or a test double). */
  readonly runtime: (name: string) => Runtime
  /** Loaded handler modules by endpoint name (the CLI compiles the TypeScript). */
  readonly handlers?: Readonly<Record<string, Handler>>
  readonly log: Logger
  readonly metrics?: Metrics
}

/** Loaded models and compiled endpoints: shared by the HTTP server and `mlx predict`. */
export interface Serving {
  readonly models: ReadonlyMap<string, LoadedModel>
  readonly runners: ReadonlyMap<string, ModelRunner>
  readonly endpoints: ReadonlyMap<string, EndpointFn>
  /** Which runtime serves each model, for /v2 metadata. */
  readonly runtimeOf: ReadonlyMap<string, string>
  dispose(): Promise<void>
}

export async function loadServing(project: Project, opts: ServingOptions): Promise<Serving> {
  const models = new Map<string, LoadedModel>()
  const runners = new Map<string, ModelRunner>()
  const runtimeOf = new Map<string, string>()
  const dispose = async () => {
    await Promise.allSettled([...models.values()].map((m) => m.dispose()))
  }
  try {
    for (const spec of Object.values(project.models)) {
      const runtime = opts.runtime(spec.runtime)
      let model: LoadedModel
      try {
        model = await runtime.load(spec, { projectRoot: project.root, log: opts.log })
      } catch (err) {
        if (isMlxError(err)) throw err
        throw new MlxError('MODEL_LOAD_FAILED', `model '${spec.name}' (${spec.relPath}) could not be loaded by the ${spec.runtime} runtime: ${(err as Error).message.split('\n')[0]}`, {
          hint: 'check that the file is a complete, valid model for that runtime (re-export or re-run the training script); --verbose shows the runtime error.',
          file: spec.path,
          cause: err,
        })
      }
      models.set(spec.name, model)
      runtimeOf.set(spec.name, spec.runtime)
      runners.set(spec.name, new ModelRunner(spec.name, model, opts.metrics?.model(spec.name) ?? (() => {}), spec.batching, opts.log))
    }
    const endpoints = new Map<string, EndpointFn>()
    for (const ep of project.endpoints) {
      try {
        endpoints.set(ep.name, compileEndpoint(ep, runners, { maxRows: project.server.maxBatchRows, handler: opts.handlers?.[ep.name], log: opts.log, root: project.root }))
      } catch (err) {
        throw new MlxError('MANIFEST_INVALID', `${project.manifestFile}: endpoint '${ep.name}': ${(err as Error).message}`, {
          hint: 'fix the endpoint in mlx.yaml (`mlx validate` checks it without serving).',
          file: project.manifestFile,
          cause: err,
        })
      }
    }
    return { models, runners, endpoints, runtimeOf, dispose }
  } catch (err) {
    await dispose()
    throw err
  }
}
