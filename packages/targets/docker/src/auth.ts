/**
 * Registry authentication: the `WWW-Authenticate` challenge a registry answers 401 with, and the
 * user's credentials for a host, looked up by name in the environment or docker's config file.
 * Secrets are handed to the registry client only; nothing here logs them.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Credentials } from '@mlx/core'
import { DOCKER_HUB } from './reference.js'

export interface Challenge {
  /** Lower-cased: 'bearer' or 'basic'. */
  readonly scheme: string
  /** Parameter names lower-cased; values unquoted. */
  readonly params: Record<string, string>
}

/**
 * Parses an RFC 7235 challenge list: `Bearer realm="https://ghcr.io/token",service="ghcr.io",
 * scope="repository:o/i:pull,push"`. Quoted values may hold commas and escaped quotes; several
 * challenges may share one header.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: { scheme: string; params: Record<string, string> }[] = []
  let i = 0
  const s = header
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++
  }
  const token = () => {
    const start = i
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++
    return s.slice(start, i)
  }
  while (i < s.length) {
    skipWs()
    if (s[i] === ',') {
      i++
      continue
    }
    const word = token()
    if (!word) {
      i++ // junk: skip a character rather than loop forever
      continue
    }
    skipWs()
    if (s[i] === '=' && out.length) {
      // key=value of the current challenge
      i++
      skipWs()
      let value = ''
      if (s[i] === '"') {
        i++
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++
          value += s[i]
          i++
        }
        i++ // closing quote
      } else {
        const start = i
        while (i < s.length && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++
        value = s.slice(start, i)
      }
      out[out.length - 1]!.params[word.toLowerCase()] = value
    } else {
      out.push({ scheme: word.toLowerCase(), params: {} })
      // token68 form (e.g. `Basic abc==`) carries no parameters we use
    }
  }
  return out
}

export interface BasicCredentials {
  readonly username: string
  readonly password: string
  /** Where they came from, for messages: an env var name or a file (never the secret). */
  readonly source: string
  /**
   * 'identity-token': `password` is an OAuth2 refresh token (docker's `identitytoken`, as
   * `az acr login` or Docker Desktop write it, or a credential helper's `<token>` user); it is
   * exchanged at the token service with grant_type=refresh_token and never sent as Basic auth.
   */
  readonly kind?: 'password' | 'identity-token'
}

/** The user name docker's credential helpers return when the secret is an identity token. */
const HELPER_TOKEN_USER = '<token>'

/** docker's config.json keys a host in several spellings; Docker Hub under its v1 index URL. */
function configKeys(registry: string): string[] {
  if (registry === DOCKER_HUB) return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'https://registry-1.docker.io']
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`]
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>
  credHelpers?: Record<string, string>
  credsStore?: string
}

export function dockerConfigPath(env: Credentials): string {
  const dir = env.setting('DOCKER_CONFIG') ?? path.join(os.homedir(), '.docker')
  return path.join(dir, 'config.json')
}

/**
 * Credentials for `registry`, first match wins:
 *  1. MLX_REGISTRY_USER + MLX_REGISTRY_PASSWORD (only for the registry mlx pushes to);
 *  2. for ghcr.io: GHCR_TOKEN or GITHUB_TOKEN, user GITHUB_ACTOR (any non-empty name works with a PAT);
 *  3. the containers auth files (REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 *     ~/.config/containers/auth.json, as podman/skopeo write them), then docker's config.json:
 *     `auths[host].auth` (base64 user:password), else a credential helper (`credHelpers[host]` or
 *     `credsStore`) run as `docker-credential-<name> get`. An `identitytoken` entry (or a helper's
 *     `<token>` user) is an OAuth2 refresh token, used as docker uses it (see `kind`).
 * Nothing found: anonymous, which is enough to pull public images.
 */
export async function findCredentials(registry: string, env: Credentials, opts: { destination: boolean }): Promise<BasicCredentials | undefined> {
  const user = env.setting('MLX_REGISTRY_USER')
  const password = env.get('MLX_REGISTRY_PASSWORD')
  if (opts.destination && user && password) return { username: user, password, source: 'MLX_REGISTRY_USER/MLX_REGISTRY_PASSWORD' }
  if (registry === 'ghcr.io') {
    for (const name of ['GHCR_TOKEN', 'GITHUB_TOKEN']) {
      const token = env.get(name)
      if (token) return { username: env.setting('GITHUB_ACTOR') ?? user ?? 'mlx', password: token, source: name }
    }
  }
  // podman/skopeo/buildah read their own auth.json before docker's file; the format is the same.
  for (const file of authFiles(env)) {
    let cfg: DockerConfig
    try {
      cfg = JSON.parse(await readFile(file, 'utf8')) as DockerConfig
    } catch {
      continue
    }
    for (const key of configKeys(registry)) {
      const a = cfg.auths?.[key]
      if (!a) continue
      const source = `${file} (auths["${key}"])`
      // docker prefers the identity token when one is stored: `auth` then holds a placeholder user.
      if (a.identitytoken) return { username: userOf(a.auth) ?? a.username ?? HELPER_TOKEN_USER, password: a.identitytoken, source, kind: 'identity-token' }
      if (a.auth) {
        const decoded = Buffer.from(a.auth, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source }
      }
      if (a.username && a.password) return { username: a.username, password: a.password, source }
    }
    const helper = configKeys(registry).map((k) => cfg.credHelpers?.[k]).find(Boolean) ?? cfg.credsStore
    if (helper) {
      const got = await credentialHelper(helper, registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry).catch(() => undefined)
      if (got) return { ...got, source: `docker-credential-${helper}` }
    }
  }
  return undefined
}

/** The user name of a config `auth` entry (base64 user:password), if it decodes to one. */
function userOf(auth: string | undefined): string | undefined {
  if (!auth) return undefined
  const decoded = Buffer.from(auth, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon > 0 ? decoded.slice(0, colon) : undefined
}

/** Where `podman login`, `skopeo login` and `docker login` keep credentials, in the order podman reads them. */
export function authFiles(env: Credentials): string[] {
  const files: string[] = []
  const explicit = env.setting('REGISTRY_AUTH_FILE')
  if (explicit) files.push(explicit)
  const runtime = env.setting('XDG_RUNTIME_DIR')
  if (runtime) files.push(path.join(runtime, 'containers', 'auth.json'))
  files.push(path.join(env.setting('XDG_CONFIG_HOME') ?? path.join(os.homedir(), '.config'), 'containers', 'auth.json'))
  files.push(dockerConfigPath(env))
  return files
}

/** The docker credential-helper protocol: the server URL on stdin, `{Username, Secret}` on stdout. */
function credentialHelper(helper: string, serverUrl: string): Promise<Omit<BasicCredentials, 'source'> | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const child = spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'ignore'] })
    let out = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.on('error', () => resolve(undefined))
    child.stdout.on('data', (d) => (out += d))
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code !== 0) return resolve(undefined)
      try {
        const j = JSON.parse(out) as { Username?: string; Secret?: string }
        if (!j.Username || !j.Secret) return resolve(undefined)
        resolve(j.Username === HELPER_TOKEN_USER ? { username: j.Username, password: j.Secret, kind: 'identity-token' } : { username: j.Username, password: j.Secret })
      } catch {
        resolve(undefined)
      }
    })
    child.stdin.end(serverUrl)
  })
}

export const basicHeader = (c: { username: string; password: string }) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`
