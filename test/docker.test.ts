// The docker target end to end, with real parts: Debian's docker-registry on 127.0.0.1 (started
// once for this file), skopeo to look at what was pushed, a recording proxy in front of the
// registry that can fail requests on purpose, and podman (or runc) to run the image. No public base
// image can be pulled here, so the base is made from this machine's node binary and libraries and
// pushed to the local registry first; the build path is the same as with a remote base.
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyExample, mlx, SEED_PAYLOAD } from './support/cli.js'
import { makeHostNodeImage, BASE_TAG } from './support/registry/base-image.js'
import { buildAndRun, runImage, type RunResult } from './support/registry/container.js'
import { startProxy, type RegistryProxy } from './support/registry/proxy.js'
import { hasCommand, startRegistry, type TestRegistry } from './support/registry/registry.js'
import { blobDigest, manifestStatus, run } from './support/registry/run.js'

const MISSING = ['docker-registry', 'skopeo'].filter((c) => !hasCommand(c))

interface Layer {
  name: string
  digest: string
  size: number
  mediaType: string
}
interface PackageOut {
  digest: string
  version: string
  paths: { layout: string; dockerfile: string; context: string }
  details: { tags: string[]; layers: Layer[]; base: { ref: string; digest: string }; sizes: { compressed: number; added: number } }
}
interface DeployOut {
  digest: string
  deployment: { url: string; digest: string; version: string; details: { image: string; tags: string[]; uploaded: number; mounted: number; existing: number; retries: number } }
}

const json = <T>(r: { code: number; stdout: string; stderr: string }): T => {
  if (r.code !== 0) throw new Error(`mlx exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(file)) h.update(c as Buffer)
  return `sha256:${h.digest('hex')}`
}

const yamlValue = (v: unknown): string => (Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v))

describe('docker target: daemonless OCI image, pushed to a real registry', () => {
  let work: string
  let registry: TestRegistry
  let proxy: RegistryProxy
  let baseRef: string
  const projects: string[] = []

  /** A titanic copy whose targets.docker settings point at the local registry (through the proxy). */
  const project = async (docker: Record<string, unknown> = {}) => {
    const cfg = { base: baseRef, registry: `${proxy.host}/mlx`, ...docker }
    const dir = await copyExample('titanic', (y) => `${y.trimEnd()}\n  docker:\n${Object.entries(cfg).map(([k, v]) => `    ${k}: ${yamlValue(v)}`).join('\n')}\n`)
    projects.push(dir) // each holds ~130 MB of bundle and layout once packaged
    return dir
  }
  const skopeoInspect = (ref: string, raw = false) => run('skopeo', ['inspect', '--tls-verify=false', ...(raw ? ['--raw'] : []), `docker://${registry.host}/${ref}`])

  /** Every layer and the config of a pushed image can be fetched and hashes to its digest. */
  async function expectComplete(repo: string, tag: string) {
    const raw = await skopeoInspect(`${repo}:${tag}`, true)
    expect(raw.code, raw.stderr).toBe(0)
    const manifest = JSON.parse(raw.stdout) as { config: Layer; layers: Layer[] }
    for (const b of [manifest.config, ...manifest.layers]) expect(await blobDigest(registry.host, repo, b.digest)).toBe(b.digest)
    return manifest
  }

  beforeAll(async () => {
    if (MISSING.length) throw new Error(`${MISSING.join(' and ')} missing: run \`bash scripts/setup-test-env.sh\` (Debian packages docker-registry, skopeo)`)
    work = await mkdtemp(path.join(os.tmpdir(), 'mlx-docker-test-'))
    registry = await startRegistry()
    proxy = await startProxy(registry.host)
    const base = await makeHostNodeImage(path.join(work, 'base'))
    baseRef = `${proxy.host}/base/node:${BASE_TAG}`
    const push = await run('skopeo', ['copy', '--dest-tls-verify=false', base.ref, `docker://${baseRef}`])
    if (push.code !== 0) throw new Error(`skopeo could not push the base image: ${push.stderr}`)
  }, 180_000)

  afterAll(async () => {
    await proxy?.close()
    await registry?.stop()
    for (const d of [work, ...projects]) if (d) await rm(d, { recursive: true, force: true })
  })

  let dir: string
  let packaged: PackageOut

  it('packages a Dockerfile, a build context and an OCI layout; the same input gives the same digest', async () => {
    dir = await project({ source: 'https://github.com/acme/titanic', tags: ['stable'] })
    const valid = json<{ valid: boolean; targets: string[] }>(await mlx(['validate', dir, '--json', '--skip-models']))
    expect(valid.targets).toContain('docker')

    const first = await mlx(['package', dir, '--target', 'docker'])
    expect(first.code, first.stderr).toBe(0)
    // Layer sizes, compressed and not, are printed.
    expect(first.stderr).toMatch(/layer\s+node_modules\s+[\d.]+ MB gz\s+[\d.]+ MB tar\s+\d+ files/)
    expect(first.stderr).toMatch(/layer\s+models\s+/)
    expect(first.stderr).toMatch(/image\s+sha256:[a-f0-9]{64}\s+[\d.]+ MB compressed/)

    packaged = json<PackageOut>(await mlx(['package', dir, '--target', 'docker', '--json']))
    expect(first.stdout).toContain(packaged.digest.slice(0, 19))
    // Another output folder, same digest: no path or time leaks into the image.
    const elsewhere = json<PackageOut>(await mlx(['package', dir, '--target', 'docker', '--json', '--out', path.join(work, 'elsewhere')]))
    expect(elsewhere.digest).toBe(packaged.digest)

    // The OCI layout: marker, index with the tags, every blob named by its content's digest.
    const layout = packaged.paths.layout
    expect(JSON.parse(await readFile(path.join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' })
    const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] }
    const refNames = index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])
    expect(refNames).toEqual(['1.0.0', expect.stringMatching(/^model-[a-f0-9]{12}$/), 'stable'])
    expect(new Set(index.manifests.map((m) => m.digest))).toEqual(new Set([packaged.digest]))
    const blobs = await readdir(path.join(layout, 'blobs/sha256'))
    for (const b of blobs) expect(await fileDigest(path.join(layout, 'blobs/sha256', b))).toBe(`sha256:${b}`)

    const manifest = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', packaged.digest.slice(7)), 'utf8')) as { config: Layer; layers: Layer[] }
    expect(manifest.layers.map((l) => l.digest)).toEqual(packaged.details.layers.map((l) => l.digest))
    expect(packaged.details.layers.map((l) => l.name)).toEqual(['base', 'node_modules', 'models', 'app'])
    expect(blobs.length).toBe(manifest.layers.length + 2) // + config + manifest: nothing stale left

    const config = JSON.parse(await readFile(path.join(layout, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'))
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z' })
    expect(config.config).toMatchObject({
      User: '10001:10001',
      WorkingDir: '/app',
      Entrypoint: ['node'],
      Cmd: ['server.mjs'],
      ExposedPorts: { '8080/tcp': {} },
    })
    expect(config.config.Env).toEqual(expect.arrayContaining([expect.stringMatching(/^PATH=\/usr\/local\/sbin:/), 'PORT=8080', 'NODE_ENV=production']))
    expect(config.config.Labels).toMatchObject({
      'org.opencontainers.image.source': 'https://github.com/acme/titanic',
      'org.opencontainers.image.version': '1.0.0',
      'org.opencontainers.image.created': '1970-01-01T00:00:00Z',
      'dev.mlx.model.digest': expect.stringMatching(/^sha256:[a-f0-9]{64}$/),
    })
    expect(config.rootfs.diff_ids).toHaveLength(4)

    // Layer tars: under app/, root-owned, epoch mtime, sorted.
    const app = packaged.details.layers.find((l) => l.name === 'app')!
    const listing = await run('tar', ['--numeric-owner', '--full-time', '-tvzf', path.join(layout, 'blobs/sha256', app.digest.slice(7))])
    expect(listing.code, listing.stderr).toBe(0)
    const lines = listing.stdout.trim().split('\n')
    for (const l of lines) expect(l).toMatch(/^[-d]r[-w][-x]r-[-x]r-[-x] 0\/0 .* 1970-01-01 00:00:00 app(\/|$)/)
    const names = lines.map((l) => l.split(/\s+/).at(-1)!.replace(/\/$/, ''))
    expect(names).toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    expect(names).toEqual(expect.arrayContaining(['app/mlx.yaml', 'app/server.mjs', 'app/bundle.json', 'app/package.json']))
    expect(names.some((n) => n.startsWith('app/node_modules'))).toBe(false)

    // skopeo reads the layout as an image.
    const inspected = await run('skopeo', ['inspect', `oci:${layout}:1.0.0`])
    expect(inspected.code, inspected.stderr).toBe(0)
    expect(JSON.parse(inspected.stdout).Digest).toBe(packaged.digest)

    // The Dockerfile and its context, for people with Docker.
    const dockerfile = await readFile(packaged.paths.dockerfile, 'utf8')
    expect(dockerfile).toContain('FROM ${BASE} AS layers')
    expect(dockerfile).toMatch(/USER 10001:10001/)
    expect(dockerfile).toMatch(/^EXPOSE 8080$/m)
    expect(dockerfile).toMatch(/PORT="8080"/)
    expect(dockerfile).toMatch(/^CMD \["node", "server.mjs"\]$/m)
    expect(dockerfile).toContain(`ARG BASE=${baseRef}@${packaged.details.base.digest}`) // pinned by digest
    for (const f of ['server.mjs', 'mlx.yaml', 'package.json', 'package-lock.json', 'node_modules/@mlx/core/package.json', 'model/titanic.onnx']) {
      expect(existsSync(path.join(packaged.paths.context, f)), f).toBe(true)
    }
  }, 240_000)

  it('deploy pushes the image: skopeo shows the digest, labels, layers and tags; the base layer is mounted, not uploaded', async () => {
    const since = proxy.log.length
    const out = json<DeployOut>(await mlx(['deploy', dir, '--target', 'docker', '--json']))
    const image = `${proxy.host}/mlx/titanic`
    expect(out.deployment).toMatchObject({ url: `${image}@${packaged.digest}`, digest: packaged.digest, version: '1.0.0' })
    expect(out.deployment.details).toMatchObject({ image, uploaded: 4, mounted: 1, existing: 0 })
    expect(out.deployment.details.tags).toEqual(packaged.details.tags.map((t) => `${image}:${t}`))

    const inspected = await skopeoInspect('mlx/titanic:1.0.0')
    expect(inspected.code, inspected.stderr).toBe(0)
    const info = JSON.parse(inspected.stdout) as { Digest: string; Labels: Record<string, string>; Layers: string[]; Architecture: string }
    expect(info.Digest).toBe(packaged.digest)
    expect(info.Architecture).toBe('amd64')
    expect(info.Labels['dev.mlx.model.digest']).toMatch(/^sha256:/)
    expect(info.Labels['org.opencontainers.image.version']).toBe('1.0.0')
    expect(info.Layers).toEqual(packaged.details.layers.map((l) => l.digest))
    const tags = JSON.parse((await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/mlx/titanic`])).stdout) as { Tags: string[] }
    expect(tags.Tags.sort()).toEqual([...packaged.details.tags].sort())
    await expectComplete('mlx/titanic', '1.0.0')

    const base = packaged.details.layers[0]!
    expect(proxy.mounts(since).some((l) => l.path.includes(encodeURIComponent(base.digest)) && l.status === 201)).toBe(true)
    expect(proxy.uploads(since).some((l) => l.path.includes(encodeURIComponent(base.digest)))).toBe(false)
    const history = JSON.parse(await readFile(path.join(dir, '.mlx/deployments.json'), 'utf8')).deployments
    expect(history.at(-1)).toMatchObject({ target: 'docker', digest: packaged.digest, status: 'ready' })
  }, 240_000)

  it('an unchanged rebuild uploads no blob: HEAD finds them all', async () => {
    const since = proxy.log.length
    const out = json<DeployOut>(await mlx(['deploy', dir, '--target', 'docker', '--json']))
    expect(out.deployment.digest).toBe(packaged.digest)
    expect(out.deployment.details).toMatchObject({ uploaded: 0, mounted: 0, existing: 5 })
    expect(proxy.uploads(since)).toEqual([])
    expect(proxy.log.slice(since).filter((l) => l.method === 'POST')).toEqual([])
  }, 240_000)

  it('retries: a 500 on a chunk resumes where the registry stood, a dropped connection restarts the blob', async () => {
    const retryDir = await project({ registry: `${proxy.host}/retry`, chunkSize: 4 * 1024 * 1024 })
    const pkg = json<PackageOut>(await mlx(['package', retryDir, '--target', 'docker', '--json']))
    const app = pkg.details.layers.find((l) => l.name === 'app')!
    proxy.faults.push(
      { method: 'PATCH', path: /^\/v2\/retry\/titanic\/blobs\/uploads\//, action: { status: 500 }, times: 1, skip: 2 },
      { method: 'PUT', path: new RegExp(`^/v2/retry/titanic/blobs/uploads/.*digest=${encodeURIComponent(app.digest)}`), action: 'drop', times: 1 },
    )
    const r = await mlx(['deploy', retryDir, '--target', 'docker', '--json'])
    const faults = proxy.faults.splice(0)
    const out = json<DeployOut>(r)
    expect(faults.map((f) => f.times)).toEqual([0, 0]) // both faults fired
    expect(r.stderr).toMatch(/resuming at byte \d+/)
    expect(r.stderr).toMatch(/upload of sha256:[a-f0-9]{12} failed \(.*the connection was closed.*\); starting it again/)
    expect(out.deployment.details.retries).toBeGreaterThanOrEqual(2)
    expect(out.deployment.digest).toBe(pkg.digest)
    await expectComplete('retry/titanic', '1.0.0')
  }, 240_000)

  it('a push that dies half-way leaves no manifest; the re-run sends only what is missing and completes', async () => {
    const crashDir = await project({ registry: `${proxy.host}/crash`, retries: 1 })
    const pkg = json<PackageOut>(await mlx(['package', crashDir, '--target', 'docker', '--json']))
    const deps = pkg.details.layers.find((l) => l.name === 'node_modules')!
    // Every attempt to finish the node_modules blob loses its connection.
    proxy.faults.push({ method: 'PUT', path: new RegExp(`^/v2/crash/titanic/blobs/uploads/.*digest=${encodeURIComponent(deps.digest)}`), action: 'drop', times: Infinity })
    const failed = await mlx(['deploy', crashDir, '--target', 'docker'])
    proxy.faults.splice(0)
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain('error[DEPLOY_FAILED]')
    expect(failed.stderr).toMatch(/no manifest was written/)
    expect(failed.stderr).toMatch(/hint: run the same deploy again/)
    expect(failed.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
    for (const ref of ['1.0.0', pkg.digest]) expect(await manifestStatus(registry.host, 'crash/titanic', ref)).toBe(404)
    expect((await skopeoInspect('crash/titanic:1.0.0')).code).not.toBe(0)

    const since = proxy.log.length
    const out = json<DeployOut>(await mlx(['deploy', crashDir, '--target', 'docker', '--json']))
    expect(out.deployment.digest).toBe(pkg.digest)
    // Only node_modules goes up again; models, app, config and the mounted base were kept.
    expect(out.deployment.details).toMatchObject({ uploaded: 1, existing: 4 })
    expect(proxy.uploads(since).every((l) => l.method === 'PATCH' || l.path.includes(encodeURIComponent(deps.digest)))).toBe(true)
    await expectComplete('crash/titanic', '1.0.0')
  }, 240_000)

  /** Runs the seed curl against a running container, then stops it with SIGTERM. */
  async function answersSeed(result: RunResult, what: string) {
    if (!result.ok) {
      // The image itself was checked above; this machine cannot run containers.
      console.log(`NOT RUN: no container engine could run ${what} here:\n  ${result.reasons.join('\n  ')}`)
      expect(result.reasons.length).toBeGreaterThan(0)
      return
    }
    const c = result.running
    try {
      const res = await fetch(`${c.url}/predict_function`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(SEED_PAYLOAD) })
      const body = await res.text()
      expect(res.status, body).toBe(200)
      const scores = JSON.parse(body) as number[]
      expect(scores).toHaveLength(1)
      expect(scores[0]).toBeGreaterThan(0)
      expect(scores[0]).toBeLessThan(1)
      console.log(`ran ${what} with ${c.engine}: POST /predict_function → ${res.status} ${body}`)
      const stopped = await c.stop()
      expect(stopped.logs).toContain('SIGTERM received')
      if (c.engine === 'podman') expect(stopped.exitCode).toBe(0)
    } finally {
      await c.cleanup()
    }
  }

  it('the pushed image runs in a container and answers the seed curl', async () => {
    const image = `${registry.host}/mlx/titanic:1.0.0`
    await answersSeed(await runImage(image), image)
  }, 240_000)

  it('the Dockerfile and its context build with podman into an image that answers too', async () => {
    await answersSeed(await buildAndRun(packaged.paths.dockerfile, packaged.paths.context), packaged.paths.dockerfile)
  }, 300_000)
})
