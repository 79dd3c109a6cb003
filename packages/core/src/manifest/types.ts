/** mlx.yaml as written (after schema validation, before paths are resolved). */
export interface FeatureDecl {
  type: 'integer' | 'number' | 'string' | 'boolean' | 'file'
  nullable?: boolean
  description?: string
  categories?: string[]
  minimum?: number
  maximum?: number
  format?: string
  example?: unknown
  required?: boolean
}

export interface StepDecl {
  op: string
  [param: string]: unknown
}

export interface EndpointDecl {
  model?: string
  models?: string[]
  method?: 'GET' | 'POST' | 'PUT'
  path?: string
  summary?: string
  description?: string
  handler?: string
  input?: {
    reference?: string
    label?: string | string[]
    exclude?: string[]
    features?: Record<string, FeatureDecl>
    schema?: Record<string, unknown>
    style?: 'both' | 'columns' | 'rows' | 'query' | 'json'
    rows_key?: string
    example?: unknown
  }
  output?: { description?: string; schema?: Record<string, unknown>; example?: unknown }
  preprocess?: StepDecl[]
  postprocess?: StepDecl[]
}

export interface ServerDecl {
  bodyLimit?: number
  maxBatchRows?: number
  cors?: boolean
  requestTimeoutMs?: number
  shutdownGraceSeconds?: number
  auth?: boolean | { env?: string; public?: ('health' | 'metrics' | 'docs')[] }
}

export interface ManifestDecl {
  name: string
  version?: string
  description?: string
  models: Record<string, { runtime: string; path: string; description?: string; options?: Record<string, unknown>; batching?: { maxBatchSize?: number; maxWaitMs?: number } }>
  endpoints: Record<string, EndpointDecl>
  server?: ServerDecl
  include?: string[]
  env?: Record<string, string | number | boolean>
  targets?: Record<string, Record<string, unknown>>
  environments?: Record<string, { env?: ManifestDecl['env']; targets?: ManifestDecl['targets']; server?: ServerDecl }>
}
