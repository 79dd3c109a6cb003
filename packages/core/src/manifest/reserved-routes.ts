/**
 * The routes the server registers besides the endpoints (server/app.ts and server/v2.ts). Loading
 * a manifest refuses an endpoint on one of these paths, so a collision is a `mlx validate` error
 * with its line instead of fastify's "Method 'GET' already declared" when the server starts.
 * reserved-routes.test.ts starts the real server and checks this list against what it serves.
 */
export interface BuiltinRoute {
  readonly method: 'GET' | 'POST'
  /** find-my-way syntax, as registered. */
  readonly url: string
  /** What it serves, for error messages. */
  readonly what: string
}

const route = (method: BuiltinRoute['method'], url: string, what: string): BuiltinRoute => ({ method, url, what })

export const BUILTIN_ROUTES = {
  openapi: route('GET', '/openapi.json', 'the OpenAPI document'),
  docs: route('GET', '/docs', 'the API docs page'),
  docsInit: route('GET', '/docs/init.js', "the docs page's script"),
  docsAsset: route('GET', '/docs/assets/:file', "the docs page's assets"),
  healthz: route('GET', '/healthz', 'the liveness probe'),
  readyz: route('GET', '/readyz', 'the readiness probe'),
  metrics: route('GET', '/metrics', 'Prometheus metrics'),
  v2: route('GET', '/v2', 'the Open Inference Protocol (v2) server metadata'),
  v2Live: route('GET', '/v2/health/live', 'the v2 liveness probe'),
  v2Ready: route('GET', '/v2/health/ready', 'the v2 readiness probe'),
  v2Model: route('GET', '/v2/models/:name', 'v2 model metadata'),
  v2ModelReady: route('GET', '/v2/models/:name/ready', 'v2 model readiness'),
  v2Infer: route('POST', '/v2/models/:name/infer', 'v2 inference'),
  v2InferVersion: route('POST', '/v2/models/:name/versions/:version/infer', 'v2 inference'),
} as const satisfies Record<string, BuiltinRoute>

/** Served only when no endpoint answers GET / itself (an endpoint may take the root). */
export const INDEX_ROUTE: BuiltinRoute = route('GET', '/', 'the index (name, version, endpoints)')

/**
 * Paths that belong to the server whatever the method: the exact ones, and everything under the
 * prefixes (the docs page's files; /v2/, whose errors have the protocol's own shape).
 */
export const RESERVED_PATHS: Readonly<Record<string, string>> = {
  '/openapi.json': BUILTIN_ROUTES.openapi.what,
  '/docs': BUILTIN_ROUTES.docs.what,
  '/healthz': BUILTIN_ROUTES.healthz.what,
  '/readyz': BUILTIN_ROUTES.readyz.what,
  '/metrics': BUILTIN_ROUTES.metrics.what,
  '/v2': BUILTIN_ROUTES.v2.what,
}
export const RESERVED_PREFIXES: Readonly<Record<string, string>> = {
  '/docs/': 'the API docs page and its assets',
  '/v2/': 'the Open Inference Protocol (v2) routes',
}

/**
 * Whether an endpoint path (any method) would take a built-in route: the reserved path or prefix
 * and what the server serves there. A trailing slash makes no difference.
 */
export function reservedRoute(path: string): { readonly reserved: string; readonly what: string; readonly prefix: boolean } | undefined {
  const p = path.replace(/\/+$/, '') || '/'
  if (Object.hasOwn(RESERVED_PATHS, p)) return { reserved: p, what: RESERVED_PATHS[p]!, prefix: false }
  const prefix = Object.keys(RESERVED_PREFIXES).find((x) => p.startsWith(x))
  return prefix ? { reserved: prefix, what: RESERVED_PREFIXES[prefix]!, prefix: true } : undefined
}
