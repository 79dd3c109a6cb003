import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Artifact, type Bundle, type TargetContext } from '@mlx/core'
import { chosenEndpoint, settings, type UbiopsConfig } from './config.js'
import { DEPLOYMENT_PY } from './deployment-py.js'
import { projectIgnore, type IgnoreFn } from './ignore.js'
import { endpointPlan, exampleRequest, specFiles, type EndpointPlan, type Field } from './spec.js'
import { writeZip, type ZipEntry } from './zip.js'

/** The one root folder UbiOps looks for in the zip. */
export const PACKAGE_DIR = 'deployment_package'
/** Where the bundle sits inside it. */
export const APP_DIR = 'app'
export const PLAN_FILE = 'mlx_ubiops.json'

/** What deployment.py reads at start-up. */
export interface PackagePlan {
  readonly name: string
  readonly version: string
  readonly bundle: string
  readonly endpoint: string
  readonly endpoints: Record<string, EndpointPlan>
  readonly ready_timeout: number
  readonly request_timeout: number
}

/** What the artifact records about the zip. */
export interface UbiopsDetails {
  readonly deployment: string
  readonly endpoint: string
  readonly endpoints: readonly string[]
  readonly input_fields: readonly Field[]
  readonly output_fields: readonly Field[]
  readonly bytes: number
  readonly files: number
  readonly ignored: number
  readonly node: number
  readonly hasExample: boolean
}

export const NODESOURCE_KEY = 'https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key'

/**
 * Node from NodeSource's apt repository rather than a binary in the zip: a Node binary is ~100 MB
 * that every upload would carry, while UbiOps caches the environment it builds from ubiops.yaml
 * and rebuilds it only when the file changes.
 */
export function renderUbiopsYaml(nodeMajor: number): string {
  return [
    `# Written by mlx. UbiOps runs this while it builds the environment: Node.js ${nodeMajor} from`,
    '# NodeSource, which deployment.py uses to run the mlx server in app/ (MLX_NODE overrides).',
    'apt:',
    '  keys:',
    '    urls:',
    `      - ${NODESOURCE_KEY}`,
    '  sources:',
    '    items:',
    `      - deb https://deb.nodesource.com/node_${nodeMajor}.x nodistro main`,
    '  packages:',
    '    - nodejs',
    '',
  ].join('\n')
}

const REQUIREMENTS = '# deployment.py uses only the Python standard library; the model runs in Node (see ubiops.yaml).\n'

/** Files of the bundle in a stable order, minus what must or may not ship. */
async function bundleEntries(dir: string, ignore: IgnoreFn, keep: (rel: string) => boolean): Promise<{ entries: ZipEntry[]; ignored: string[] }> {
  const entries: ZipEntry[] = []
  const ignored: string[] = []
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const d of names) {
      const r = rel ? `${rel}/${d.name}` : d.name
      const isDir = d.isDirectory()
      if (!keep(r) && ignore(r, isDir)) {
        ignored.push(isDir ? `${r}/` : r)
        continue
      }
      if (isDir) await walk(r)
      else if (d.isFile()) {
        const s = await stat(path.join(dir, r))
        entries.push({ name: `${PACKAGE_DIR}/${APP_DIR}/${r}`, source: path.join(dir, r), mode: s.mode & 0o111 ? 0o755 : 0o644 })
      }
    }
  }
  await walk('')
  return { entries, ignored }
}

export async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(file)) h.update(c as Buffer)
  return `sha256:${h.digest('hex')}`
}

export async function packageZip(bundle: Bundle, ctx: TargetContext<UbiopsConfig>): Promise<Artifact<UbiopsDetails>> {
  const s = settings(ctx)
  const cfg = s.cfg
  const project = bundle.project
  const bp = bundle.info.platform
  if (bp.os !== 'linux' || bp.arch !== 'x64') {
    throw new MlxError('USAGE', `the bundle was built for ${bp.os}/${bp.arch}, but UbiOps runs x86-64 Linux: its native modules (onnxruntime, sharp) would not load there.`, {
      hint: 'drop --platform (the ubiops target builds for linux/amd64), or set targets.ubiops.platform: linux/amd64.',
    })
  }
  const chosen = chosenEndpoint(project, cfg)
  const opts = { jsonFields: cfg.jsonFields, outputField: cfg.outputField }
  // The served endpoint must map; the others ship too (MLX_ENDPOINT picks one) when they do.
  const endpoints: Record<string, EndpointPlan> = { [chosen.name]: endpointPlan(chosen, project, opts) }
  for (const ep of project.endpoints) {
    if (ep === chosen) continue
    try {
      endpoints[ep.name] = endpointPlan(ep, project, opts)
    } catch (err) {
      ctx.log.debug(`endpoint ${ep.name} is not in the UbiOps package: ${(err as Error).message}`)
    }
  }
  const plan: PackagePlan = {
    name: project.name,
    version: project.version,
    bundle: APP_DIR,
    endpoint: chosen.name,
    endpoints,
    ready_timeout: cfg.readyTimeoutSeconds,
    request_timeout: cfg.requestTimeoutSeconds,
  }
  const text = (name: string, body: string, mode = 0o644): ZipEntry => ({ name: `${PACKAGE_DIR}/${name}`, source: Buffer.from(body, 'utf8'), mode })
  const generated: ZipEntry[] = [
    text('deployment.py', DEPLOYMENT_PY),
    text('requirements.txt', REQUIREMENTS),
    text('ubiops.yaml', renderUbiopsYaml(cfg.node)),
    text(PLAN_FILE, JSON.stringify(plan, null, 2) + '\n'),
  ]
  for (const [name, p] of Object.entries(endpoints)) {
    const spec = specFiles(p)
    generated.push(text(`${name}_input_spec.json`, JSON.stringify(spec.input, null, 2) + '\n'), text(`${name}_output_spec.json`, JSON.stringify(spec.output, null, 2) + '\n'))
  }

  const { ignore, file: ignoreFile } = await projectIgnore(project.root)
  // What the server cannot start without is never dropped, whatever .mlxignore says.
  const essential = new Set(['server.mjs', 'mlx.yaml', 'package.json', 'package-lock.json', 'bundle.json', '.handlers', ...Object.values(project.models).map((m) => path.relative(project.root, m.path).split(path.sep).join('/'))])
  const keep = (rel: string) => essential.has(rel) || [...essential].some((e) => rel.startsWith(`${e}/`) || e.startsWith(`${rel}/`))
  const { entries, ignored } = await bundleEntries(bundle.dir, ignore, keep)
  if (ignored.length) ctx.log.info(`Left out of the zip (${ignoreFile ? '.mlxignore and ' : ''}built-in rules): ${ignored.slice(0, 8).join(', ')}${ignored.length > 8 ? `, … (${ignored.length} in all)` : ''}`)

  await mkdir(ctx.outDir, { recursive: true })
  const zip = path.join(ctx.outDir, `${project.name}.zip`)
  const partial = `${zip}.partial-${process.pid}`
  let result
  try {
    result = await writeZip(partial, [...generated, ...entries], { signal: ctx.signal })
    await rename(partial, zip)
  } catch (err) {
    await rm(partial, { force: true })
    throw new MlxError('BUNDLE_FAILED', `could not write ${zip}: ${(err as Error).message}`, { hint: 'check free disk space; UbiOps packages must stay under 2 GB.', cause: err })
  }
  const example = exampleRequest(chosen, endpoints[chosen.name]!)
  return {
    target: 'ubiops',
    version: project.version,
    digest: await fileDigest(zip),
    paths: { zip, bundle: bundle.dir },
    details: {
      deployment: s.deployment,
      endpoint: chosen.name,
      endpoints: Object.keys(endpoints),
      input_fields: endpoints[chosen.name]!.input_fields,
      output_fields: endpoints[chosen.name]!.output_fields,
      bytes: result.bytes,
      files: result.entries,
      ignored: ignored.length,
      node: cfg.node,
      hasExample: example !== undefined,
    },
  }
}
