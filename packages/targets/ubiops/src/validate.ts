import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MlxError, type Artifact, type Logger } from '@mlx/core'
import { PACKAGE_DIR, PLAN_FILE, type PackagePlan } from './package.js'
import type { Field } from './spec.js'
import { listZip, readZipEntry } from './zip.js'

/** UbiOps' documented limit for a deployment package. */
export const MAX_PACKAGE_BYTES = 2 * 1024 ** 3

export interface ExampleInput {
  /** Field values; file fields are absent here and given in `files` as base64. */
  readonly data: Record<string, unknown>
  readonly files: Record<string, string | string[]>
}

const fail = (zip: string, msg: string): never => {
  throw new MlxError('BUNDLE_FAILED', `${zip}: ${msg}`, { hint: 're-run `mlx package --target ubiops`; do not edit the zip by hand.' })
}

/** Everything that can be checked without a network: layout, required files, specs. */
export async function checkStructure(zip: string, endpoint: string, fields: { input: readonly Field[]; output: readonly Field[] }): Promise<PackagePlan> {
  const list = await listZip(zip).catch((err: Error) => fail(zip, `not a readable zip (${err.message})`))
  const roots = new Set(list.map((e) => e.name.split('/')[0]))
  if (roots.size !== 1 || !roots.has(PACKAGE_DIR)) fail(zip, `expected a single root folder ${PACKAGE_DIR}/, found ${[...roots].join(', ')}`)
  const byName = new Map(list.map((e) => [e.name.slice(PACKAGE_DIR.length + 1), e]))
  const needed = ['deployment.py', 'requirements.txt', 'ubiops.yaml', PLAN_FILE, `${endpoint}_input_spec.json`, `${endpoint}_output_spec.json`, 'app/server.mjs', 'app/mlx.yaml', 'app/package.json']
  const missing = needed.filter((n) => !byName.has(n))
  if (missing.length) fail(zip, `missing ${missing.join(', ')}`)
  const forbidden = [...byName.keys()].filter((n) => /(^|\/)(\.git|\.env(\..*)?)(\/|$)/.test(n))
  if (forbidden.length) fail(zip, `holds files that must never ship: ${forbidden.slice(0, 5).join(', ')}`)
  const total = list.reduce((n, e) => n + e.compressedSize, 0)
  if (total > MAX_PACKAGE_BYTES) fail(zip, `is ${(total / 1024 ** 3).toFixed(2)} GB; UbiOps accepts at most 2 GB`)
  const read = async <T>(n: string) => JSON.parse((await readZipEntry(zip, byName.get(n)!)).toString('utf8')) as T
  const input = await read<{ input_fields: Field[] }>(`${endpoint}_input_spec.json`)
  const output = await read<{ output_fields: Field[] }>(`${endpoint}_output_spec.json`)
  if (JSON.stringify(input.input_fields) !== JSON.stringify(fields.input) || JSON.stringify(output.output_fields) !== JSON.stringify(fields.output)) {
    fail(zip, `its ${endpoint} specs differ from the endpoint's fields (the zip is stale)`)
  }
  const plan = await read<PackagePlan>(PLAN_FILE)
  if (plan.endpoint !== endpoint) fail(zip, `serves endpoint ${plan.endpoint}, not ${endpoint} (the zip is stale)`)
  return plan
}

/** Splits an example request into plain values and the base64 of its file fields. */
export function exampleInput(example: Record<string, unknown>, fields: readonly Field[]): ExampleInput {
  const data: Record<string, unknown> = {}
  const files: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(example)) {
    const t = fields.find((f) => f.name === k)?.data_type
    if (t === 'file' || t === 'array_file') files[k] = v as string | string[]
    else data[k] = v
  }
  return { data, files }
}

// Unpacks the zip, imports deployment.py and calls it as UbiOps does: Deployment(base_directory,
// context), then request(data, context) with file fields as local paths.
const CHECK_PY = String.raw`
import base64, importlib.util, json, os, shutil, sys, tempfile, zipfile
zip_path, example_path, out_path, deployment, version = sys.argv[1:6]
tmp = tempfile.mkdtemp(prefix="mlx-ubiops-check-")
out = {"ok": False}
try:
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp)
    base = os.path.join(tmp, "deployment_package")
    sys.path.insert(0, base)
    spec = importlib.util.spec_from_file_location("deployment", os.path.join(base, "deployment.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(example_path) as f:
        example = json.load(f)
    d = module.Deployment(base, {"deployment": deployment, "version": version, "input_type": "structured", "output_type": "structured", "language": "python3.12", "environment_variables": {}})
    try:
        if example is not None:
            data = dict(example["data"])
            for name, value in example["files"].items():
                def put(v, i):
                    p = os.path.join(tmp, "input-%s-%d" % (name, i))
                    with open(p, "wb") as fh:
                        fh.write(base64.b64decode(v.split(",", 1)[-1]))
                    return p
                data[name] = [put(v, i) for i, v in enumerate(value)] if isinstance(value, list) else put(value, 0)
            out["result"] = d.request(data, {"id": "mlx-local-check", "request_mode": "direct"})
    finally:
        d.close()
    out["ok"] = True
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
with open(out_path, "w") as f:
    json.dump(out, f)
`

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, signal, maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` })
    })
  })
}

export async function findPython(): Promise<string | undefined> {
  for (const p of [process.env.MLX_PYTHON, 'python3', 'python'].filter((x): x is string => !!x)) {
    const r = await run(p, ['-c', 'import sys; print(sys.version_info[0])'], process.env)
    if (r.code === 0 && r.output.trim() === '3') return p
  }
  return undefined
}

/**
 * The zip answered the example locally, through deployment.py and python3, before anything on
 * UbiOps is touched. Node is this process's node unless MLX_NODE says otherwise.
 */
export async function runLocally(
  artifact: Pick<Artifact, 'paths'>,
  example: ExampleInput | undefined,
  opts: { python: string; deployment: string; version: string; log: Logger; signal?: AbortSignal },
): Promise<{ result?: unknown }> {
  const zip = artifact.paths.zip!
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-ubiops-'))
  try {
    const script = path.join(dir, 'check.py')
    const exampleFile = path.join(dir, 'example.json')
    const outFile = path.join(dir, 'out.json')
    await writeFile(script, CHECK_PY)
    await writeFile(exampleFile, JSON.stringify(example ?? null))
    const env = { ...process.env, MLX_NODE: process.env.MLX_NODE || process.execPath }
    const r = await run(opts.python, [script, zip, exampleFile, outFile, opts.deployment, opts.version], env, opts.signal)
    const out = JSON.parse(await readFile(outFile, 'utf8').catch(() => '{"ok":false,"error":"the check did not finish"}')) as { ok: boolean; result?: unknown; error?: string }
    if (!out.ok) {
      const tail = r.output.trim().split('\n').slice(-15).join('\n')
      throw new MlxError('DEPLOY_FAILED', `the package did not work locally: deployment.py ${out.error ?? `exited with ${r.code}`}${tail ? `\n${tail}` : ''}`, {
        hint: 'nothing was uploaded and nothing on UbiOps changed; fix the error and deploy again (targets.ubiops.localCheck: structure skips this run).',
      })
    }
    return { result: out.result }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
