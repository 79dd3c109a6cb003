import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { MlxError } from '../errors.js'
import { BUILTIN_ROUTES, INDEX_ROUTE } from '../manifest/reserved-routes.js'

/** What server.auth may leave open. Everything else the server routes (endpoints, /v2's model routes) needs the key. */
export type PublicArea = 'health' | 'metrics' | 'docs'

/** server.auth, resolved: absent when the routes are open. */
export interface AuthSpec {
  /** The environment variable that holds the key (or several, comma-separated). */
  readonly env: string
  readonly public: readonly PublicArea[]
}

export const DEFAULT_AUTH: AuthSpec = { env: 'MLX_API_KEY', public: ['health', 'docs'] }
/** Shorter keys are refused at start: a guessable key is worse than none, it looks like protection. */
export const MIN_KEY_LENGTH = 16

/** server.auth as written (true, false, or settings) → what the server enforces. */
export function resolveAuth(decl: boolean | { env?: string; public?: PublicArea[] } | undefined): AuthSpec | undefined {
  if (!decl) return undefined
  if (decl === true) return DEFAULT_AUTH
  return { env: decl.env ?? DEFAULT_AUTH.env, public: decl.public ?? DEFAULT_AUTH.public }
}

const AREAS: Readonly<Record<string, PublicArea>> = {
  [BUILTIN_ROUTES.healthz.url]: 'health',
  [BUILTIN_ROUTES.readyz.url]: 'health',
  [BUILTIN_ROUTES.v2Live.url]: 'health',
  [BUILTIN_ROUTES.v2Ready.url]: 'health',
  [BUILTIN_ROUTES.metrics.url]: 'metrics',
  [BUILTIN_ROUTES.docs.url]: 'docs',
  [BUILTIN_ROUTES.docsInit.url]: 'docs',
  [BUILTIN_ROUTES.docsAsset.url]: 'docs',
  [BUILTIN_ROUTES.openapi.url]: 'docs',
}

/**
 * The area of a route, by the URL it was registered with (find-my-way's `:param` or OpenAPI's
 * `{param}`); undefined for a prediction route. `indexIsBuiltin`: the server's own GET / (an
 * endpoint may take the root, and is then a prediction route).
 */
export function areaOf(url: string, indexIsBuiltin: boolean): PublicArea | undefined {
  const route = url.replace(/\{([^}]+)\}/g, ':$1')
  if (route === INDEX_ROUTE.url) return indexIsBuiltin ? 'docs' : undefined
  return AREAS[route]
}

/**
 * The keys the server accepts, from the environment. A missing or short key stops the server
 * at start: serving open when the manifest asks for a key would be the silent failure.
 */
export function apiKeysFrom(auth: AuthSpec, env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env[auth.env]
  const keys = (raw ?? '').split(',').map((k) => k.trim()).filter(Boolean)
  if (!keys.length) {
    throw new MlxError('CREDENTIALS_MISSING', `server.auth is on and ${auth.env} is ${raw === undefined ? 'not set' : 'empty'}: the server will not start without the API key it should ask for.`, {
      hint: `set ${auth.env} to a random key, such as the output of \`openssl rand -hex 32\`; a deployed app gets it from the target's secret store (docs/security.md).`,
    })
  }
  const short = keys.findIndex((k) => k.length < MIN_KEY_LENGTH)
  if (short >= 0) {
    throw new MlxError('CREDENTIALS_MISSING', `server.auth: ${keys.length > 1 ? `key ${short + 1} of the ${keys.length} in ${auth.env}` : auth.env} is ${keys[short]!.length} characters; an API key needs at least ${MIN_KEY_LENGTH}.`, {
      hint: `use a random one: \`openssl rand -hex 32\`.`,
    })
  }
  return keys
}

/** The key a request presents: `Authorization: Bearer <key>`, or `X-API-Key: <key>`. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization
  if (auth) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth)
    return m ? m[1] : ''
  }
  const header = headers['x-api-key']
  return typeof header === 'string' ? header.trim() : undefined
}

export type AuthFailure = { readonly challenge: string; readonly message: string }

/** Checks presented keys against the accepted ones in constant time (of the key's content). */
export class KeyCheck {
  private readonly digests: readonly Buffer[]

  constructor(keys: readonly string[]) {
    // Digests have one length whatever the key's, so timingSafeEqual applies and the
    // comparison time tells nothing about how much of a key was right, nor its length.
    this.digests = keys.map(digest)
  }

  /** undefined when the request may pass; otherwise the 401's challenge and message (never the key). */
  check(headers: IncomingHttpHeaders): AuthFailure | undefined {
    const key = presentedKey(headers)
    if (key === undefined) {
      return { challenge: 'Bearer realm="mlx"', message: 'this route needs an API key: send it as `Authorization: Bearer <key>` (or `X-API-Key: <key>`)' }
    }
    const given = digest(key)
    let ok = false
    // Every key is compared, so which one matched (or none) takes the same time.
    for (const d of this.digests) ok = timingSafeEqual(given, d) || ok
    if (ok) return undefined
    return {
      challenge: 'Bearer realm="mlx", error="invalid_token"',
      message: key === '' ? 'the Authorization header is not `Bearer <key>`' : 'the API key is not valid',
    }
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
