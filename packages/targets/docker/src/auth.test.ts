import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { envCredentials } from '@mlx/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basicHeader, findCredentials, parseWwwAuthenticate } from './auth.js'

describe('parseWwwAuthenticate', () => {
  it("reads GHCR's bearer challenge, with a comma inside the quoted scope", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/titanic:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:acme/titanic:pull,push' } },
    ])
  })

  it("reads Docker Hub's, with spaces after commas and mixed-case names", () => {
    const [c] = parseWwwAuthenticate('Bearer Realm="https://auth.docker.io/token", Service="registry.docker.io", scope="repository:library/node:pull"')
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/node:pull' } })
  })

  it('handles Basic, unquoted values, escaped quotes and several challenges in one header', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }])
    expect(parseWwwAuthenticate('Bearer realm=https://r.example/token,service=r.example')[0]!.params).toEqual({ realm: 'https://r.example/token', service: 'r.example' })
    expect(parseWwwAuthenticate('Bearer realm="a \\"quoted\\" realm"')[0]!.params.realm).toBe('a "quoted" realm')
    expect(parseWwwAuthenticate('Basic realm="x", Bearer realm="https://t/token",service="t"').map((c) => c.scheme)).toEqual(['basic', 'bearer'])
  })

  it('survives junk', () => {
    expect(parseWwwAuthenticate('')).toEqual([])
    expect(() => parseWwwAuthenticate('=,,"" ;; Bearer')).not.toThrow()
  })
})

describe('findCredentials', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-auth-'))
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'ghcr.io': { auth: Buffer.from('octocat:ghp_fromfile').toString('base64') },
          'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hubpass').toString('base64') },
          'registry.example.com:5000': { username: 'u', password: 'p' },
        },
      }),
    )
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const env = (vars: Record<string, string>) => envCredentials({ DOCKER_CONFIG: dir, XDG_CONFIG_HOME: path.join(dir, 'xdg'), ...vars })

  it('prefers MLX_REGISTRY_USER/PASSWORD for the destination only', async () => {
    const e = env({ MLX_REGISTRY_USER: 'me', MLX_REGISTRY_PASSWORD: 's3cret' })
    expect(await findCredentials('registry.example.com:5000', e, { destination: true })).toMatchObject({ username: 'me', password: 's3cret', source: 'MLX_REGISTRY_USER/MLX_REGISTRY_PASSWORD' })
    expect(await findCredentials('registry.example.com:5000', e, { destination: false })).toMatchObject({ username: 'u', password: 'p' })
  })

  it('uses GHCR_TOKEN or GITHUB_TOKEN for ghcr.io, then docker config', async () => {
    expect(await findCredentials('ghcr.io', env({ GITHUB_TOKEN: 'ghs_x', GITHUB_ACTOR: 'bot' }), { destination: true })).toMatchObject({ username: 'bot', password: 'ghs_x', source: 'GITHUB_TOKEN' })
    expect(await findCredentials('ghcr.io', env({ GHCR_TOKEN: 'ghp_y', GITHUB_TOKEN: 'ghs_x' }), { destination: true })).toMatchObject({ password: 'ghp_y', source: 'GHCR_TOKEN' })
    const fromFile = await findCredentials('ghcr.io', env({}), { destination: true })
    expect(fromFile).toMatchObject({ username: 'octocat', password: 'ghp_fromfile' })
    expect(fromFile!.source).toContain('config.json')
    expect(fromFile!.source).not.toContain('ghp_fromfile')
  })

  it("finds Docker Hub under its v1 index key, and nothing for unknown hosts", async () => {
    expect(await findCredentials('docker.io', env({}), { destination: false })).toMatchObject({ username: 'hubuser', password: 'hubpass' })
    expect(await findCredentials('quay.io', env({}), { destination: true })).toBeUndefined()
    expect(await findCredentials('quay.io', envCredentials({ DOCKER_CONFIG: path.join(dir, 'nope') }), { destination: true })).toBeUndefined()
  })

  it("reads podman/skopeo's auth.json before docker's config.json, REGISTRY_AUTH_FILE first", async () => {
    const podman = path.join(dir, 'xdg', 'containers')
    await mkdir(podman, { recursive: true })
    await writeFile(path.join(podman, 'auth.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('podmanuser:ghp_podman').toString('base64') } } }))
    const explicit = path.join(dir, 'explicit-auth.json')
    await writeFile(explicit, JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from('quayuser:quaypass').toString('base64') } } }))
    const fromPodman = await findCredentials('ghcr.io', env({}), { destination: true })
    expect(fromPodman).toMatchObject({ username: 'podmanuser', password: 'ghp_podman' })
    expect(fromPodman!.source).toBe(`${path.join(podman, 'auth.json')} (auths["ghcr.io"])`)
    // A host only docker knows still comes from docker's file.
    expect(await findCredentials('docker.io', env({}), { destination: false })).toMatchObject({ username: 'hubuser' })
    expect(await findCredentials('quay.io', env({ REGISTRY_AUTH_FILE: explicit }), { destination: true })).toMatchObject({ username: 'quayuser', password: 'quaypass' })
    await rm(path.join(dir, 'xdg'), { recursive: true, force: true })
  })

  it("reads docker's identitytoken entries and a helper's <token> user as identity tokens", async () => {
    const conf = path.join(dir, 'identity')
    const bin = path.join(dir, 'bin')
    await mkdir(conf, { recursive: true })
    await mkdir(bin, { recursive: true })
    // As `az acr login` writes it: a placeholder user in `auth`, the refresh token beside it.
    await writeFile(
      path.join(conf, 'config.json'),
      JSON.stringify({
        auths: { 'myacr.azurecr.io': { auth: Buffer.from('00000000-0000-0000-0000-000000000000:').toString('base64'), identitytoken: 'eyJ.refresh.token' } },
        credHelpers: { 'helped.example.com': 'mlxtest' },
      }),
    )
    // A credential helper speaking docker's protocol: the server URL on stdin, JSON on stdout.
    await writeFile(path.join(bin, 'docker-credential-mlxtest'), '#!/bin/sh\nread url\nprintf \'{"ServerURL":"%s","Username":"<token>","Secret":"helper-refresh"}\' "$url"\n', { mode: 0o755 })
    const e = envCredentials({ DOCKER_CONFIG: conf, XDG_CONFIG_HOME: path.join(dir, 'xdg-none') })
    expect(await findCredentials('myacr.azurecr.io', e, { destination: true })).toEqual({
      username: '00000000-0000-0000-0000-000000000000',
      password: 'eyJ.refresh.token',
      source: `${path.join(conf, 'config.json')} (auths["myacr.azurecr.io"])`,
      kind: 'identity-token',
    })
    const saved = process.env.PATH
    process.env.PATH = `${bin}${path.delimiter}${saved}`
    try {
      expect(await findCredentials('helped.example.com', e, { destination: true })).toEqual({ username: '<token>', password: 'helper-refresh', source: 'docker-credential-mlxtest', kind: 'identity-token' })
    } finally {
      process.env.PATH = saved
    }
  })

  it('builds a Basic header', () => {
    expect(basicHeader({ username: 'a', password: 'b:c' })).toBe(`Basic ${Buffer.from('a:b:c').toString('base64')}`)
  })
})
