/**
 * Image references as docker writes them: `node:20-slim` is docker.io/library/node:20-slim,
 * `ghcr.io/acme/titanic:1.0.0@sha256:…` names host, repository, tag and digest. A base may also
 * be a local OCI image layout: `oci:PATH` or `oci:PATH:TAG`.
 */

export interface ImageRef {
  /** As written by users (docker.io, ghcr.io, 127.0.0.1:5000). */
  readonly registry: string
  readonly repository: string
  readonly tag?: string
  readonly digest?: string
}

export type BaseSource = { readonly kind: 'registry'; readonly ref: ImageRef } | { readonly kind: 'layout'; readonly dir: string; readonly tag?: string }

const REPO_PART = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/
const DIGEST = /^sha256:[a-f0-9]{64}$/

export const DOCKER_HUB = 'docker.io'

export function isValidTag(t: string): boolean {
  return TAG.test(t)
}

export function isValidRepository(r: string): boolean {
  return r.split('/').every((p) => REPO_PART.test(p))
}

export function parseImageRef(input: string): ImageRef {
  let rest = input.trim()
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!DIGEST.test(digest)) throw new Error(`'${input}': the digest must be sha256:<64 hex digits>`)
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf('/')
  const colon = rest.lastIndexOf(':')
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw new Error(`'${input}': '${tag}' is not a valid tag`)
  }
  const parts = rest.split('/')
  let registry = DOCKER_HUB
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) registry = parts.shift()!
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB
  let repository = parts.join('/')
  if (registry === DOCKER_HUB && parts.length === 1) repository = `library/${repository}`
  if (!repository || !isValidRepository(repository)) throw new Error(`'${input}' is not an image reference (repository names are lowercase: a-z 0-9 . _ -)`)
  if (!tag && !digest) tag = 'latest'
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) }
}

export function formatRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`
}

/** `oci:PATH[:TAG]` or a registry reference. */
export function parseBaseSource(input: string): BaseSource {
  if (input.startsWith('oci:')) {
    const spec = input.slice(4)
    const lastSlash = spec.lastIndexOf('/')
    const colon = spec.lastIndexOf(':')
    if (colon > lastSlash && colon > 0) return { kind: 'layout', dir: spec.slice(0, colon), tag: spec.slice(colon + 1) }
    return { kind: 'layout', dir: spec }
  }
  return { kind: 'registry', ref: parseImageRef(input) }
}

/** The host the distribution API lives on (Docker Hub's API is not at docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry
}

/** docker's rule: plain HTTP only for loopback registries, unless the user says otherwise. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

export interface Destination {
  readonly registry: string
  /** The repository the image goes to: NAMESPACE/<project name>. */
  readonly repository: string
}

/** `HOST[:PORT]/NAMESPACE` + project name → where the image is pushed. */
export function parseDestination(registryArg: string, imageName: string): Destination {
  const trimmed = registryArg.trim().replace(/^(https?|docker):\/\//, '').replace(/\/+$/, '')
  const slash = trimmed.indexOf('/')
  const registry = slash < 0 ? trimmed : trimmed.slice(0, slash)
  const namespace = slash < 0 ? '' : trimmed.slice(slash + 1)
  if (!registry || !/^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(registry)) throw new Error(`'${registryArg}' is not HOST[:PORT]/NAMESPACE`)
  const name = imageName.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
  const repository = (namespace ? `${namespace.toLowerCase()}/` : '') + name
  if (!isValidRepository(repository)) throw new Error(`'${repository}' is not a valid repository name (lowercase a-z 0-9 . _ -, separated by /)`)
  return { registry: registry === 'index.docker.io' ? DOCKER_HUB : registry, repository }
}
