import { stat } from 'node:fs/promises'
import path from 'node:path'
import { MlxError } from './errors.js'
import { LINK_HINT, escapingLink, escapingLinkUnder, isInside, linkText } from './manifest/inside.js'
import { readManifest, type ReadManifest } from './manifest/load.js'
import { dotted } from './manifest/located.js'
import { checkRoutes } from './manifest/routes.js'
import type { EndpointDecl, FeatureDecl, ManifestDecl, ServerDecl, StepDecl } from './manifest/types.js'
import type { JSONSchema } from './types.js'
import { readTable } from './data/index.js'
import { exampleRows, inferFeatures, type Feature } from './data/infer.js'
import { resolveAuth, type AuthSpec } from './server/auth.js'

export interface ModelSpec {
  readonly name: string
  readonly runtime: string
  /** Absolute path of the model file or folder. */
  readonly path: string
  /** Path relative to the project root, as written in the manifest. */
  readonly relPath: string
  readonly description?: string
  readonly options: Readonly<Record<string, unknown>>
  /** Adaptive batching, when the manifest asks for it (defaults filled in). */
  readonly batching?: { readonly maxBatchSize: number; readonly maxWaitMs: number }
}

/** A feature as the server validates it: inferred from reference data, refined by the manifest. */
export type FeatureSpec = Omit<Feature, 'type'> & {
  readonly type: Feature['type'] | 'file'
  readonly required?: boolean
  readonly description?: string
  readonly format?: string
  /** Bounds the manifest declares (enforced, unlike min/max seen in the reference data). */
  readonly minimum?: number
  readonly maximum?: number
}

export interface InputSpec {
  readonly style: 'both' | 'columns' | 'rows' | 'query' | 'json'
  /** Tabular endpoints: the features, in model order. */
  readonly features?: readonly FeatureSpec[]
  /** Handler endpoints: a JSON Schema for the body. */
  readonly schema?: JSONSchema
  /** Docs example: a column-oriented body and the same rows row-oriented. */
  readonly example?: { columns?: Record<string, unknown[]>; rows?: Record<string, unknown>[]; body?: unknown }
  readonly reference?: string
  /** Rows arrive as {"<rowsKey>": [...]} (the course APIs' shape). */
  readonly rowsKey?: string
}

export interface EndpointSpec {
  readonly name: string
  readonly method: 'GET' | 'POST' | 'PUT'
  readonly path: string
  readonly summary?: string
  readonly description?: string
  readonly models: readonly string[]
  readonly handler?: { readonly source: string; readonly relPath: string }
  readonly input: InputSpec
  readonly output: { description?: string; schema?: JSONSchema; example?: unknown }
  readonly preprocess: readonly StepDecl[]
  readonly postprocess: readonly StepDecl[]
}

export interface Project {
  readonly root: string
  readonly manifestFile: string
  readonly name: string
  readonly version: string
  readonly description?: string
  readonly models: Readonly<Record<string, ModelSpec>>
  /** Extra files (absolute) that ship with the bundle. */
  readonly include: readonly string[]
  readonly endpoints: readonly EndpointSpec[]
  readonly server: ServerSettings
  readonly env: Readonly<Record<string, string>>
  readonly targets: Readonly<Record<string, Record<string, unknown>>>
  /** The overlay applied (--env), if any, and the ones declared. */
  readonly environment?: string
  readonly environments: readonly string[]
  /** The manifest as written, for bundling (targets and environments included). */
  readonly decl: ManifestDecl
}

/** server: in mlx.yaml with its defaults; `auth` is absent when the routes are open. */
export type ServerSettings = Readonly<Required<Omit<ServerDecl, 'auth'>>> & { readonly auth?: AuthSpec }

const SERVER_DEFAULTS: Required<Omit<ServerDecl, 'auth'>> = { bodyLimit: 1_048_576, maxBatchRows: 10_000, cors: false, requestTimeoutMs: 30_000, shutdownGraceSeconds: 8 }

/**
 * Reads, checks and resolves a project once: every later stage (serve, bundle, package, deploy)
 * works from the returned Project and never re-reads YAML.
 */
export async function loadProject(dirOrFile: string, opts: { env?: string } = {}): Promise<Project> {
  const read = await readManifest(dirOrFile)
  const { decl, file, locator } = read
  const root = path.dirname(file)
  const fail = (p: (string | number)[], msg: string, hint: string, code: 'MANIFEST_INVALID' | 'MODEL_NOT_FOUND' = 'MANIFEST_INVALID'): never => {
    throw new MlxError(code, `${locator.locate(p)}: ${dotted(p)}: ${msg}`, { hint, file })
  }

  const inside = async (p: (string | number)[], rel: string, what: string): Promise<string> => {
    const abs = path.resolve(root, rel)
    if (!isInside(root, abs)) {
      fail(p, `${what} '${rel}' is outside the project folder ${root}`, `move the file into the project folder and use a relative path; everything a deployment needs must ship with it.`)
    }
    const found = await stat(abs).catch(() => undefined)
    if (!found) {
      fail(p, `${what} '${rel}' does not exist (looked for ${abs})`, `check the path (it is relative to ${path.basename(file)}), or create the file${what === 'model file' ? ' by running the training script' : ''}.`, what === 'model file' ? 'MODEL_NOT_FOUND' : 'MANIFEST_INVALID')
    }
    // The text of the path is inside; where it resolves must be too, or a link would carry a file
    // from elsewhere on this machine into every bundle and image.
    const escape = (await escapingLink(root, abs)) ?? (found!.isDirectory() && what !== 'handler' ? await escapingLinkUnder(root, abs, true) : undefined)
    if (escape) fail(p, `${what} '${rel}': ${linkText(escape)}, outside the project folder ${root}`, LINK_HINT)
    return abs
  }

  const models: Record<string, ModelSpec> = {}
  for (const [name, m] of Object.entries(decl.models)) {
    const abs = await inside(['models', name, 'path'], m.path, 'model file')
    models[name] = { name, runtime: m.runtime, path: abs, relPath: m.path, description: m.description, options: m.options ?? {}, ...(m.batching ? { batching: { maxBatchSize: m.batching.maxBatchSize ?? 64, maxWaitMs: m.batching.maxWaitMs ?? 2 } } : {}) }
  }
  const declared = Object.keys(models)
  const include: string[] = []
  for (const [i, rel] of (decl.include ?? []).entries()) include.push(await inside(['include', i], rel, 'included file'))

  const methodOf = (e: EndpointDecl) => e.method ?? (e.input?.style === 'query' ? 'GET' : 'POST')
  const clash = await checkRoutes(Object.entries(decl.endpoints).map(([name, e]) => ({ name, method: methodOf(e), path: e.path ?? `/${name}` })))
  if (clash) {
    const declared = decl.endpoints[clash.endpoint]!.path !== undefined
    fail(declared ? ['endpoints', clash.endpoint, 'path'] : ['endpoints', clash.endpoint], declared ? clash.message : `${clash.message} (the default path is the endpoint's name)`, clash.hint)
  }

  const endpoints: EndpointSpec[] = []
  for (const [name, e] of Object.entries(decl.endpoints)) {
    const used = [...(e.model ? [e.model] : []), ...(e.models ?? [])]
    for (const [i, m] of used.entries()) {
      if (!models[m]) {
        const p = e.model === m ? ['endpoints', name, 'model'] : ['endpoints', name, 'models', i - (e.model ? 1 : 0)]
        fail(p, `'${m}' is not declared under models (declared: ${declared.join(', ')})`, `use one of the declared model names, or add '${m}' under models.`)
      }
    }
    if (used.length === 0 && !e.handler) {
      fail(['endpoints', name], `needs a model or a handler`, `add 'model: <name>' (one of: ${declared.join(', ')}) or 'handler: src/${name}.ts'.`)
    }
    const method = methodOf(e)
    const route = e.path ?? `/${name}`
    const handler = e.handler ? { source: await inside(['endpoints', name, 'handler'], e.handler, 'handler'), relPath: e.handler } : undefined
    const input = await resolveInput(e, name, root, inside, fail)
    endpoints.push({
      name,
      method,
      path: route,
      summary: e.summary,
      description: e.description,
      models: used,
      handler,
      input,
      output: e.output ?? {},
      preprocess: e.preprocess ?? [],
      postprocess: e.postprocess ?? [],
    })
  }

  const environments = Object.keys(decl.environments ?? {})
  let targets = decl.targets ?? {}
  let env = decl.env ?? {}
  let server: ServerDecl = decl.server ?? {}
  if (opts.env) {
    const overlay = decl.environments?.[opts.env]
    if (!overlay) {
      throw new MlxError('USAGE', `environment '${opts.env}' is not declared in ${path.relative(process.cwd(), file) || file} (declared: ${environments.join(', ') || 'none'}).`, {
        hint: `add it under 'environments:' or pick one of the declared ones.`,
        file,
      })
    }
    targets = deepMerge(targets, overlay.targets ?? {}) as typeof targets
    env = { ...env, ...overlay.env }
    server = { ...server, ...overlay.server }
  }

  const auth = resolveAuth(server.auth)
  if (auth && auth.env in env) {
    // env: is baked into the image and the bundle: the key would ship to everyone who can pull it.
    const at = opts.env && decl.environments?.[opts.env]?.env && auth.env in decl.environments[opts.env]!.env! ? ['environments', opts.env, 'env', auth.env] : ['env', auth.env]
    fail(at, `${auth.env} is server.auth's API key; a value written in mlx.yaml is baked into every bundle and image.`, `remove it from env: and give it to the server from a secret: ${auth.env} in the shell for mlx serve, the target's secret store for a deployment (docs/security.md).`)
  }

  return {
    root,
    manifestFile: file,
    name: decl.name,
    version: decl.version ?? '0.1.0',
    description: decl.description,
    models,
    include,
    endpoints,
    server: { ...SERVER_DEFAULTS, ...server, auth },
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])),
    targets,
    environment: opts.env,
    environments,
    decl,
  }
}

type Fail = (p: (string | number)[], msg: string, hint: string) => never
type Inside = (p: (string | number)[], rel: string, what: string) => Promise<string>

async function resolveInput(e: EndpointDecl, name: string, root: string, inside: Inside, fail: Fail): Promise<InputSpec> {
  const i = e.input ?? {}
  const style = i.style ?? (e.method === 'GET' ? 'query' : e.handler && !i.features && !i.reference ? 'json' : 'both')
  let features: FeatureSpec[] | undefined
  let example: InputSpec['example'] = i.example !== undefined ? { body: i.example } : undefined
  let reference: string | undefined
  if (i.reference) {
    reference = await inside(['endpoints', name, 'input', 'reference'], i.reference, 'reference data')
    let table
    try {
      table = await readTable(reference)
    } catch (err) {
      fail(['endpoints', name, 'input', 'reference'], `cannot read ${i.reference}: ${(err as Error).message}`, 'use a CSV with a header row, a Parquet file, or an Arrow IPC file.')
    }
    try {
      features = inferFeatures(table!, { label: i.label, exclude: i.exclude })
    } catch (err) {
      fail(['endpoints', name, 'input', 'label'], (err as Error).message, 'name a column of the reference data, or remove label.')
    }
    const ex = exampleRows(table!, features!, 2)
    example ??= { columns: ex.columns, rows: ex.rows }
  }
  if (i.features) {
    // Declared features refine (or replace) inferred ones: the manifest has the last word.
    const inferred = new Map((features ?? []).map((f) => [f.name, f]))
    // Inferred features keep the reference data's column order; declared-only ones follow.
    const declared = new Map(Object.entries(i.features).map(([n, d]) => [n, fromDecl(n, d, inferred.get(n))]))
    features = [...(features ?? []).map((f) => declared.get(f.name) ?? f), ...[...declared.values()].filter((f) => !inferred.has(f.name))]
    if (!example) {
      const cols = Object.fromEntries(features.map((f) => [f.name, f.examples.slice(0, 1)]))
      example = { columns: cols, rows: [Object.fromEntries(features.map((f) => [f.name, f.examples[0] ?? null]))] }
    }
  }
  if (i.schema && features) fail(['endpoints', name, 'input', 'schema'], 'give either features/reference or a JSON schema, not both', 'keep features for tabular models; use schema for handler endpoints with free-form bodies.')
  void root
  if (i.rows_key && !features) fail(['endpoints', name, 'input', 'rows_key'], 'needs features (input.reference or input.features)', 'declare the features of one row.')
  if (i.rows_key && example && example.body === undefined && example.rows) example = { body: { [i.rows_key]: example.rows } }
  return { style: i.rows_key ? 'rows' : style, features, schema: i.schema, example, reference, rowsKey: i.rows_key }
}

function fromDecl(name: string, d: FeatureDecl, inferred?: FeatureSpec): FeatureSpec {
  return {
    name,
    type: d.type,
    nullable: d.nullable ?? inferred?.nullable ?? false,
    categories: d.categories ?? inferred?.categories,
    min: inferred?.min,
    max: inferred?.max,
    examples: d.example !== undefined ? [d.example] : inferred?.examples ?? [],
    required: d.required ?? true,
    description: d.description,
    format: d.format,
    minimum: d.minimum,
    maximum: d.maximum,
  }
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) }
    for (const [k, v] of Object.entries(b)) out[k] = deepMerge(out[k], v)
    return out
  }
  return b === undefined ? a : b
}
