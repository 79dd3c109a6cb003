import type { FastifyInstance } from 'fastify'
import { BUILTIN_ROUTES, INDEX_ROUTE, reservedRoute, type BuiltinRoute } from './reserved-routes.js'

/** An endpoint's route as loadProject resolved it. */
export interface EndpointRoute {
  readonly name: string
  readonly method: 'GET' | 'POST' | 'PUT'
  readonly path: string
}

/** Why a route cannot be served, and which endpoint it is (the message names any other it collides with). */
export interface RouteProblem {
  readonly endpoint: string
  readonly message: string
  readonly hint: string
}

interface Registered {
  readonly method: string
  readonly url: string
  /** The endpoint's name, or the built-in route. */
  readonly owner: string | BuiltinRoute
}

const describe = (r: Registered) => (typeof r.owner === 'string' ? `endpoint '${r.owner}' (${r.method} ${r.url})` : `the server's ${r.method} ${r.url} (${r.owner.what})`)

/** '/p' ↔ '/p/': find-my-way keeps them apart, but a client (and a reader) takes them for one route. */
function twin(url: string): string | undefined {
  if (url === '/' || url.includes('?') || url.endsWith('*')) return undefined
  return url.endsWith('/') ? url.slice(0, -1) : `${url}/`
}

const isDuplicate = (err: unknown) => /already declared/.test((err as Error).message)

/**
 * Checks the endpoints' routes the way the server will register them: refuses paths under the
 * built-in routes (any method), paths a request can never reach, and two endpoints fastify takes
 * for the same route (same method and path up to parameter names, or a trailing slash apart).
 * The routes are registered in a fastify instance that never listens, in app.ts's order
 * (built-ins first, the index last), so what fastify would refuse at start is refused here.
 */
export async function checkRoutes(routes: readonly EndpointRoute[]): Promise<RouteProblem | undefined> {
  for (const r of routes) {
    const bad = syntaxProblem(r.path)
    if (bad) return { endpoint: r.name, message: `'${r.path}' ${bad}`, hint: 'use a plain path such as /predict or /v1/predict.' }
    const reserved = reservedRoute(r.path)
    if (reserved) {
      return {
        endpoint: r.name,
        message: `${r.method} ${r.path} is a built-in route: the server serves ${reserved.what} ${reserved.prefix ? 'under' : 'at'} ${reserved.reserved}`,
        hint: `give the endpoint another path (e.g. path: /api${r.path.replace(/\/+$/, '')}); the server keeps /openapi.json, /docs, /docs/*, /healthz, /readyz, /metrics, /v2 and /v2/* for itself, whatever the method (docs/serving.md).`,
      }
    }
  }

  const { default: Fastify } = await import('fastify')
  const fresh = () => Fastify({ logger: false })
  const handler = async () => null
  const register = (app: FastifyInstance, r: { method: string; url: string }) => app.route({ method: r.method as 'GET', url: r.url, handler })
  /** Whether fastify takes `b` for `a` (or for `a` a trailing slash apart). */
  const collides = (a: Registered, b: { method: string; url: string }): boolean => {
    for (const url of [b.url, twin(b.url)]) {
      if (url === undefined) continue
      const app = fresh()
      try {
        register(app, a)
        register(app, { method: b.method, url })
      } catch (err) {
        if (isDuplicate(err)) return true
      }
    }
    return false
  }

  const app = fresh()
  const done: Registered[] = []
  for (const b of Object.values(BUILTIN_ROUTES)) {
    register(app, b)
    done.push({ method: b.method, url: b.url, owner: b })
  }
  const clash = (r: EndpointRoute): RouteProblem => {
    const other = done.find((d) => collides(d, { method: r.method, url: r.path }))
    return {
      endpoint: r.name,
      message: `${r.method} ${r.path} is already served by ${other ? describe(other) : 'another route'}: fastify takes them for one route (parameter names and a trailing slash do not tell routes apart)`,
      hint: 'give each endpoint its own path or method.',
    }
  }
  const has = (method: string, url: string) => {
    try {
      return app.hasRoute({ method: method as 'GET', url })
    } catch {
      return false
    }
  }
  for (const r of routes) {
    const t = twin(r.path)
    if (t && has(r.method, t)) return clash(r)
    try {
      register(app, { method: r.method, url: r.path })
    } catch (err) {
      if (isDuplicate(err)) return clash(r)
      return { endpoint: r.name, message: `fastify refuses the route '${r.path}': ${(err as Error).message}`, hint: 'use a plain path such as /predict; see find-my-way for the route syntax.' }
    }
    done.push({ method: r.method, url: r.path, owner: r.name })
  }
  // app.ts adds the index unless an endpoint answers GET / itself; a parametric route may still take it.
  if (!routes.some((r) => r.method === 'GET' && r.path === '/')) {
    const hit = done.find((d) => typeof d.owner === 'string' && collides(d, INDEX_ROUTE))
    if (hit) {
      return {
        endpoint: hit.owner as string,
        message: `${hit.method} ${hit.url} also takes GET /, where the server serves ${INDEX_ROUTE.what}`,
        hint: "declare path: / to replace the index, or use a path that does not match '/'.",
      }
    }
  }
  return undefined
}

/** Paths fastify would register but no request can reach. */
function syntaxProblem(path: string): string | undefined {
  if (/[\s#]/.test(path) || /[\u0000-\u001f\u007f]/.test(path)) return 'contains a space, a control character or #, which no request path can'
  if (path.includes('?') && !/\/:[^/()?]+\?\/?$/.test(path)) return "contains '?', which starts the query string (only an optional last parameter, /:name?, may end with one)"
  if (path.includes('//')) return 'has an empty segment (//)'
  return undefined
}
