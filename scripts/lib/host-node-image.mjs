// A Node base image made from this machine's own files, because no public base image can be
// pulled here: the host's node binary, the shared libraries it and onnxruntime-node load (from
// ldd), /etc/passwd with the app user, a /tmp, and busybox as /bin/sh when it is installed. One layer, written with the docker target's own
// tar writer as an OCI image layout. The docker tests push it to a local registry with skopeo;
// `npm run bench:image` uses it as the base to measure what mlx adds.
import { execFileSync } from 'node:child_process'
import { existsSync, realpathSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MEDIA, OciLayout, REF_NAME, withParents, writeTarGz } from '@mlx/target-docker'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export const BASE_TAG = '20-host'
export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** Absolute paths of the shared objects `ldd` lists for `files` (the loader included). */
/** @param {string[]} files @returns {string[]} */
function sharedLibraries(files) {
  const libs = new Set()
  for (const f of files) {
    const out = execFileSync('ldd', [f], { encoding: 'utf8' })
    for (const line of out.split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
      if (m && !m[1].startsWith(ROOT)) libs.add(m[1])
    }
  }
  return [...libs].sort()
}

/** @returns {Promise<string[]>} */
async function onnxBinaries() {
  const dir = path.join(ROOT, 'node_modules/onnxruntime-node/bin')
  const out = []
  for (const napi of await readdir(dir).catch(() => [])) {
    const d = path.join(dir, napi, 'linux', 'x64')
    for (const f of await readdir(d).catch(() => [])) out.push(path.join(d, f))
  }
  return out
}

/**
 * Writes the base image as an OCI layout in `dir`.
 * @param {string} dir
 * @returns {Promise<{ dir: string, ref: string, digest: string, libraries: string[] }>}
 */
export async function makeHostNodeImage(dir) {
  const node = realpathSync(process.execPath)
  const libraries = sharedLibraries([node, ...(await onnxBinaries())])
  const file = (p, src) => {
    const real = realpathSync(src)
    const st = statSync(real)
    return { path: p.replace(/^\//, ''), type: 'file', mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size, source: real }
  }
  const text = (p, s) => ({ path: p, type: 'file', mode: 0o644, size: Buffer.byteLength(s), source: Buffer.from(s) })
  const entries = [
    file('/usr/local/bin/node', node),
    ...libraries.map((l) => file(l, l)),
    text('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nmlx:x:10001:10001:mlx:/app:/usr/sbin/nologin\n'),
    text('etc/group', 'root:x:0:\nnogroup:x:65534:\nmlx:x:10001:\n'),
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'root', type: 'dir', mode: 0o700 },
  ]
  // A shell and the few tools the generated Dockerfile's RUN line uses, as official slim images
  // have: busybox-static (scripts/setup-test-env.sh installs it) with one link per applet.
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => existsSync(p))
  if (busybox) {
    entries.push(file('/bin/busybox', busybox))
    for (const applet of ['sh', 'mkdir', 'mv', 'cp', 'rm', 'chown', 'chmod', 'dirname', 'ls', 'cat', 'id', 'env']) {
      entries.push({ path: `bin/${applet}`, type: 'symlink', mode: 0o777, linkname: 'busybox' })
    }
  }
  const layout = await OciLayout.open(dir, { create: true })
  const tmp = layout.tempPath()
  const layer = await writeTarGz(withParents(entries), tmp)
  await layout.adopt(tmp, layer.digest)
  const created = '1970-01-01T00:00:00Z'
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created,
    config: { Env: [PATH_ENV, `NODE_VERSION=${process.versions.node}`], Cmd: ['node'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: 'mlx tests: host node binary + shared libraries' }],
  }
  const cfg = await layout.writeJson(config)
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: cfg.digest, size: cfg.size },
    layers: [{ mediaType: MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size }],
  }
  const m = await layout.writeJson(manifest)
  await layout.writeIndex({
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [{ mediaType: MEDIA.ociManifest, digest: m.digest, size: m.size, platform: { os: 'linux', architecture: 'amd64' }, annotations: { [REF_NAME]: BASE_TAG } }],
  })
  return { dir: layout.dir, ref: `oci:${layout.dir}:${BASE_TAG}`, digest: m.digest, libraries }
}
