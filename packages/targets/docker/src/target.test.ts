import { envCredentials, silentLogger, type TargetContext } from '@mlx/core'
import { describe, expect, it } from 'vitest'
import { renderDockerfile } from './dockerfile.js'
import { imageSettings, type DockerConfig } from './config.js'
import { modelTag, sourceUrl, versionTag } from './image-tool.js'
import { dockerTarget } from './target.js'

const ctx = (config: Record<string, unknown>, flags: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
  ({ config, flags, credentials: envCredentials(env), log: silentLogger }) as unknown as TargetContext
const settings = (c: TargetContext) => imageSettings(c.config as unknown as DockerConfig, c.flags, c.credentials)

describe('docker target settings', () => {
  const cfg = { base: 'docker.io/library/node:20-bookworm-slim', platform: 'linux/amd64', tags: ['stable'], insecureRegistry: false, registry: 'ghcr.io/acme' }

  it('takes flags over mlx.yaml over defaults', () => {
    expect(settings(ctx(cfg))).toMatchObject({ base: cfg.base, registry: 'ghcr.io/acme', platform: 'linux/amd64', extraTags: ['stable'], insecure: false })
    const s = settings(ctx(cfg, { base: 'oci:/tmp/base', registry: '127.0.0.1:5000/mlx', platform: 'linux/arm64', tag: ['a', 'b'], 'insecure-registry': true }))
    expect(s).toMatchObject({ base: 'oci:/tmp/base', registry: '127.0.0.1:5000/mlx', platform: 'linux/arm64', extraTags: ['stable', 'a', 'b'], insecure: true })
    expect(settings(ctx(cfg, { tag: 'one' })).extraTags).toEqual(['stable', 'one'])
  })

  it('defaults the registry to ghcr.io/<owner> in GitHub Actions', () => {
    expect(settings(ctx({ ...cfg, registry: undefined }, {}, { GITHUB_REPOSITORY_OWNER: 'Acme' })).registry).toBe('ghcr.io/acme')
    expect(settings(ctx({ ...cfg, registry: undefined })).registry).toBeUndefined()
  })

  it('declares an image whose platform and port come from targets.docker', () => {
    expect(dockerTarget.image?.platform?.({ platform: 'linux/arm64' } as never)).toBe('linux/arm64')
    expect(dockerTarget.image?.port?.({ port: 9000 } as never)).toBe(9000)
    expect(dockerTarget.image?.optionalAtPackage).toBe(false)
  })

  it('makes valid tags and source URLs', () => {
    expect(versionTag('1.2.3+build.5')).toBe('1.2.3-build.5')
    expect(modelTag(`sha256:${'ab'.repeat(32)}`)).toBe('model-ababababab' + 'ab')
    expect(sourceUrl('git@github.com:acme/titanic.git')).toBe('https://github.com/acme/titanic')
    expect(sourceUrl('https://token@github.com/acme/titanic.git')).toBe('https://github.com/acme/titanic')
    expect(sourceUrl('/srv/git/repo')).toBeUndefined()
  })

  it('plans a push without touching the network', async () => {
    const artifact = {
      target: 'docker',
      version: '1.0.0',
      digest: `sha256:${'c'.repeat(64)}`,
      paths: {},
      details: { tags: ['1.0.0'], layers: [{ size: 10 }, { size: 20 }], sizes: { compressed: 30, added: 20 }, base: { registry: 'ghcr.io', repository: 'acme/node' } },
    }
    const c = { ...ctx(cfg), project: { name: 'titanic' } } as unknown as TargetContext
    const plan = await dockerTarget.plan(artifact as never, c as never)
    expect(plan.steps.map((s) => s.action)).toEqual(['check', 'mount', 'upload', 'tag'])
    expect(plan.steps.at(-1)!.detail).toContain('ghcr.io/acme/titanic:1.0.0')
  })
})

describe('renderDockerfile', () => {
  it('splits the bundle into three COPY layers, runs as the non-root user with exec-form CMD', () => {
    const text = renderDockerfile({ base: 'node:20-slim@sha256:' + 'd'.repeat(64), models: ['model/titanic.onnx', "it's/odd"], user: '10001:10001', port: 8080, env: { A: 'x "y"' }, labels: { 'org.opencontainers.image.version': '1.0.0' }, platform: 'linux/amd64' })
    expect(text).toMatch(/^ARG BASE=node:20-slim@sha256:d{64}$/m)
    expect(text).toContain("for m in 'model/titanic.onnx' 'it'\\''s/odd'; do")
    expect(text.match(/^COPY --from=layers /gm)).toHaveLength(3)
    expect(text).toContain('A="x \\"y\\""')
    expect(text).toMatch(/^USER 10001:10001$/m)
    expect(text).toMatch(/^CMD \["node", "server.mjs"\]$/m)
    expect(text.indexOf('/out/deps/')).toBeLessThan(text.indexOf('COPY --from=layers /out/models/'))
  })
})
