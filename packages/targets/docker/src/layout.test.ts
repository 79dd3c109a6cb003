import { readFile, readdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OciLayout, REF_NAME } from './layout.js'
import { MEDIA, sha256 } from './oci.js'
import { formatRef, isLoopback, parseBaseSource, parseDestination, parseImageRef } from './reference.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-layout-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const amd64 = { os: 'linux', architecture: 'amd64' }

describe('OciLayout', () => {
  it('creates the marker and an empty index, and stores blobs under their digest', async () => {
    const layout = await OciLayout.open(path.join(dir, 'a'), { create: true })
    expect(JSON.parse(await readFile(path.join(layout.dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' })
    expect(await layout.readIndex()).toMatchObject({ schemaVersion: 2, manifests: [] })
    const { digest, size } = await layout.writeBlob(Buffer.from('hello'))
    expect(digest).toBe(sha256(Buffer.from('hello')))
    expect(size).toBe(5)
    expect(await readFile(path.join(layout.dir, 'blobs/sha256', digest.slice(7)), 'utf8')).toBe('hello')
    expect(await layout.hasBlob(digest, 5)).toBe(true)
    expect(await layout.hasBlob(digest, 6)).toBe(false)
    expect(await layout.verifyBlob(digest)).toBe(true)
  })

  it('detects a corrupt blob and refuses digests that are not sha256 hex', async () => {
    const layout = await OciLayout.open(path.join(dir, 'b'), { create: true })
    const { digest } = await layout.writeBlob(Buffer.from('good'))
    await writeFile(layout.blobPath(digest), 'evil')
    await expect(layout.readBlob(digest)).rejects.toThrow(/does not match its digest/)
    expect(() => layout.blobPath('sha256:../../etc/passwd')).toThrow(/not a sha256 digest/)
  })

  it('resolves an image by tag, through a nested index by platform, and collects garbage', async () => {
    const layout = await OciLayout.open(path.join(dir, 'c'), { create: true })
    const cfg = await layout.writeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })
    const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { mediaType: MEDIA.ociConfig, digest: cfg.digest, size: cfg.size }, layers: [] }
    const m = await layout.writeJson(manifest)
    const armManifest = await layout.writeJson({ ...manifest, annotations: { arch: 'arm64' } })
    const nested = await layout.writeJson({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [
        { mediaType: MEDIA.ociManifest, digest: armManifest.digest, size: armManifest.size, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MEDIA.ociManifest, digest: m.digest, size: m.size, platform: amd64 },
      ],
    })
    const stale = await layout.writeBlob(Buffer.from('stale'))
    await layout.writeIndex({
      schemaVersion: 2,
      manifests: [
        { mediaType: MEDIA.ociManifest, digest: m.digest, size: m.size, annotations: { [REF_NAME]: 'v1' } },
        { mediaType: MEDIA.ociIndex, digest: nested.digest, size: nested.size, annotations: { [REF_NAME]: 'multi' } },
      ],
    })
    expect((await layout.resolve('v1', amd64)).digest).toBe(m.digest)
    expect((await layout.resolve('multi', amd64)).digest).toBe(m.digest)
    expect((await layout.resolve('multi', { os: 'linux', architecture: 'arm64' })).digest).toBe(armManifest.digest)
    await expect(layout.resolve('multi', { os: 'linux', architecture: 's390x' })).rejects.toThrow(/no image for linux\/s390x/)
    await expect(layout.resolve('nope', amd64)).rejects.toThrow(/no image tagged 'nope' \(tags: v1, multi\)/)
    await expect(layout.resolve(undefined, amd64)).rejects.toThrow(/name one as oci:/)

    const removed = await layout.collectGarbage(new Set([m.digest, cfg.digest]))
    expect(removed).toBe(3) // arm manifest, nested index, stale
    expect((await readdir(path.join(layout.dir, 'blobs/sha256'))).sort()).toEqual([cfg.digest.slice(7), m.digest.slice(7)].sort())
    expect(await layout.hasBlob(stale.digest)).toBe(false)
  })

  it('does not open a folder that is not a layout unless asked to create one', async () => {
    await expect(OciLayout.open(path.join(dir, 'missing'))).rejects.toThrow(/not an OCI image layout/)
  })
})

describe('image references', () => {
  it('normalizes Docker Hub names and keeps registries with ports', () => {
    expect(parseImageRef('node:20-bookworm-slim')).toEqual({ registry: 'docker.io', repository: 'library/node', tag: '20-bookworm-slim' })
    expect(parseImageRef('docker.io/library/node:20')).toEqual({ registry: 'docker.io', repository: 'library/node', tag: '20' })
    expect(parseImageRef('acme/tool')).toEqual({ registry: 'docker.io', repository: 'acme/tool', tag: 'latest' })
    expect(parseImageRef('127.0.0.1:5000/base/node:20-host')).toEqual({ registry: '127.0.0.1:5000', repository: 'base/node', tag: '20-host' })
    expect(parseImageRef('localhost/x')).toEqual({ registry: 'localhost', repository: 'x', tag: 'latest' })
    const d = `sha256:${'a'.repeat(64)}`
    expect(parseImageRef(`ghcr.io/acme/titanic:1.0.0@${d}`)).toEqual({ registry: 'ghcr.io', repository: 'acme/titanic', tag: '1.0.0', digest: d })
    expect(formatRef(parseImageRef(`ghcr.io/acme/titanic@${d}`))).toBe(`ghcr.io/acme/titanic@${d}`)
    expect(() => parseImageRef('Upper/Case')).toThrow(/lowercase/)
    expect(() => parseImageRef('x@sha256:short')).toThrow(/digest/)
  })

  it('reads oci:PATH[:TAG] bases', () => {
    expect(parseBaseSource('oci:/tmp/base:20')).toEqual({ kind: 'layout', dir: '/tmp/base', tag: '20' })
    expect(parseBaseSource('oci:./base')).toEqual({ kind: 'layout', dir: './base' })
    expect(parseBaseSource('node:20')).toMatchObject({ kind: 'registry', ref: { repository: 'library/node' } })
  })

  it('turns --registry HOST[:PORT]/NAMESPACE and the project name into a repository', () => {
    expect(parseDestination('ghcr.io/Acme', 'titanic')).toEqual({ registry: 'ghcr.io', repository: 'acme/titanic' })
    expect(parseDestination('127.0.0.1:5000/mlx/', 'My_Model')).toEqual({ registry: '127.0.0.1:5000', repository: 'mlx/my_model' })
    expect(parseDestination('https://registry.example.com', 'titanic')).toEqual({ registry: 'registry.example.com', repository: 'titanic' })
    expect(() => parseDestination('not a host/x', 'titanic')).toThrow(/HOST\[:PORT\]\/NAMESPACE/)
  })

  it('allows plain HTTP only for loopback', () => {
    expect(isLoopback('localhost:5000')).toBe(true)
    expect(isLoopback('127.0.0.1:5000')).toBe(true)
    expect(isLoopback('[::1]:5000')).toBe(true)
    expect(isLoopback('ghcr.io')).toBe(false)
    expect(isLoopback('127.0.0.1.example.com')).toBe(false)
  })
})
