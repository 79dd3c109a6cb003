// Image size: what `mlx package --target docker` builds for titanic, layer by layer, next to the
// FastAPI image seed 004's recipe gives (python:3.11-slim + pip install of the seed's stack).
// No Docker engine or public base image is reachable here, so the base is this machine's own
// node binary and libraries (scripts/lib/host-node-image.mjs); the mlx layers do not depend on it.
// Usage: npm run bench:image [-- --project examples/titanic]
import { execFileSync } from 'node:child_process'
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createGunzip } from 'node:zlib'
import { createReadStream } from 'node:fs'
import { makeHostNodeImage } from '../scripts/lib/host-node-image.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const project = path.resolve(ROOT, args[args.indexOf('--project') + 1] && args.includes('--project') ? args[args.indexOf('--project') + 1] : 'examples/titanic')
// Published size of a python:3.11-slim image with the seed's FastAPI + scikit-learn stack (seed 004's recipe).
const FASTAPI_IMAGE_BYTES = 1.62e9

const mb = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`)

async function gunzippedSize(file) {
  let n = 0
  await new Promise((resolve, reject) => {
    createReadStream(file).pipe(createGunzip()).on('data', (c) => (n += c.length)).on('end', resolve).on('error', reject)
  })
  return n
}

const work = await mkdtemp(path.join(os.tmpdir(), 'mlx-bench-image-'))
try {
  const base = await makeHostNodeImage(path.join(work, 'base'))
  const copy = path.join(work, 'project')
  await cp(project, copy, { recursive: true, filter: (f) => !f.includes(`${path.sep}.mlx`) })
  const out = path.join(work, 'out')
  const json = execFileSync(process.execPath, [path.join(ROOT, 'packages/cli/bin/run.js'), 'package', copy, '--target', 'docker', '--base', base.ref, '--out', out, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const artifact = JSON.parse(json)
  const layout = Object.values(artifact.paths).find((p) => String(p).endsWith('oci')) ?? path.join(out, 'oci')
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'))
  const blob = (d) => path.join(layout, 'blobs', ...d.split(':'))
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'))
  const names = ['base (host node + libs)', 'node_modules', 'models', 'app']
  const rows = []
  for (const [i, l] of manifest.layers.entries()) rows.push({ layer: names[i] ?? `layer ${i}`, gz: l.size, tar: await gunzippedSize(blob(l.digest)) })
  const total = rows.reduce((a, r) => ({ gz: a.gz + r.gz, tar: a.tar + r.tar }), { gz: 0, tar: 0 })
  const mlx = rows.slice(1).reduce((a, r) => ({ gz: a.gz + r.gz, tar: a.tar + r.tar }), { gz: 0, tar: 0 })
  console.log(`image ${artifact.digest ?? ''} for ${path.relative(ROOT, project)}`)
  console.log('layer                     compressed   uncompressed')
  for (const r of rows) console.log(`${r.layer.padEnd(25)} ${mb(r.gz).padStart(10)}   ${mb(r.tar).padStart(12)}`)
  console.log(`${'total'.padEnd(25)} ${mb(total.gz).padStart(10)}   ${mb(total.tar).padStart(12)}`)
  console.log(`${'added by mlx'.padEnd(25)} ${mb(mlx.gz).padStart(10)}   ${mb(mlx.tar).padStart(12)}`)
  console.log(`FastAPI python:3.11-slim image (published figure): ${mb(FASTAPI_IMAGE_BYTES)} uncompressed`)
  console.log(`ratio mlx image / FastAPI image (uncompressed): ${(total.tar / FASTAPI_IMAGE_BYTES).toFixed(3)}x`)
  console.log('note: an official node:20-slim base differs in size from this host-made base; the layers mlx adds stay the same.')
} finally {
  await rm(work, { recursive: true, force: true })
}
