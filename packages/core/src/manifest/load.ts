import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import { LineCounter, parseDocument } from 'yaml'
import { MlxError } from '../errors.js'
import { manifestSchema } from './schema.js'
import { SourceLocator, dotted, pointerToPath } from './located.js'
import type { ManifestDecl } from './types.js'

export const MANIFEST_FILE = 'mlx.yaml'

export interface ReadManifest {
  readonly file: string
  readonly decl: ManifestDecl
  readonly locator: SourceLocator
}

/** Finds mlx.yaml for a folder (or takes a file path as is). */
export async function manifestPath(dirOrFile: string): Promise<string> {
  const abs = path.resolve(dirOrFile)
  const s = await stat(abs).catch(() => undefined)
  if (!s) {
    throw new MlxError('MANIFEST_NOT_FOUND', `${abs} does not exist.`, {
      hint: 'pass the project folder that holds mlx.yaml, or create one with `mlx init DIR`.',
    })
  }
  if (s.isFile()) return abs
  const file = path.join(abs, MANIFEST_FILE)
  if (!(await stat(file).catch(() => undefined))) {
    throw new MlxError('MANIFEST_NOT_FOUND', `no ${MANIFEST_FILE} in ${abs}.`, {
      hint: 'run `mlx init` there to create one, or pass the folder that holds it.',
      file,
    })
  }
  return file
}

let validate: ReturnType<Ajv2020['compile']> | undefined
function validator() {
  if (!validate) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: false, verbose: true })
    validate = ajv.compile(manifestSchema())
  }
  return validate
}

/** Parses and schema-checks mlx.yaml; every problem found is reported at once, with its line. */
export async function readManifest(dirOrFile: string): Promise<ReadManifest> {
  const file = await manifestPath(dirOrFile)
  const text = await readFile(file, 'utf8')
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true })
  const rel = path.relative(process.cwd(), file) || file
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!
    const pos = first.linePos?.[0]
    const where = pos ? `${rel}:${pos.line}:${pos.col}` : rel
    throw new MlxError('MANIFEST_SYNTAX', `${where}: invalid YAML: ${first.message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax at that line (indentation, a missing colon, or an unclosed quote are the usual causes).',
      file,
    })
  }
  const decl = doc.toJS({ maxAliasCount: 100 }) as unknown
  const locator = new SourceLocator(doc, lines, rel)
  if (decl === null || typeof decl !== 'object' || Array.isArray(decl)) {
    throw new MlxError('MANIFEST_INVALID', `${rel}: expected a mapping with name, models and endpoints.`, {
      hint: 'see `mlx init` for a starting manifest.',
      file,
    })
  }
  const check = validator()
  if (!check(decl)) {
    const problems = describeErrors(check.errors ?? [], locator)
    throw new MlxError('MANIFEST_INVALID', `${rel} has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`, {
      hint: 'fix the keys named above. Editors complete and check mlx.yaml with the schema @mlx/core ships (node_modules/@mlx/core/schema/mlx.schema.json) (`mlx init` adds the yaml-language-server comment that enables it).',
      file,
    })
  }
  return { file, decl: decl as ManifestDecl, locator }
}

function describeErrors(errors: ErrorObject[], locator: SourceLocator): string[] {
  const out = new Set<string>()
  for (const e of errors) {
    // anyOf/oneOf/if wrappers repeat what their branches already said.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf' || e.keyword === 'if') continue
    const p = pointerToPath(e.instancePath)
    switch (e.keyword) {
      case 'additionalProperties': {
        const extra = String(e.params.additionalProperty)
        const allowed = allowedKeys(e.parentSchema)
        const guess = closest(extra, allowed)
        out.add(
          `${locator.locate([...p, extra], true)}: ${dotted([...p, extra])}: unknown key` +
            (guess ? ` (did you mean '${guess}'?)` : allowed.length ? ` (expected one of: ${allowed.join(', ')})` : ''),
        )
        break
      }
      case 'required':
        out.add(`${locator.locate(p)}: ${dotted(p)}: missing required key '${e.params.missingProperty}'`)
        break
      case 'type':
        out.add(`${locator.locate(p)}: ${dotted(p)}: expected ${e.params.type}, got ${describe(e.data)}`)
        break
      case 'enum':
        out.add(`${locator.locate(p)}: ${dotted(p)}: expected one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(e.data)}`)
        break
      case 'pattern': {
        const desc = (e.parentSchema as { description?: string } | undefined)?.description
        out.add(`${locator.locate(p)}: ${dotted(p)}: ${JSON.stringify(e.data)} does not match ${e.params.pattern}${desc ? ` (${desc})` : ''}`)
        break
      }
      case 'propertyNames':
        break // the pattern error on the name itself says it better
      default:
        out.add(`${locator.locate(p)}: ${dotted(p)}: ${e.message}`)
    }
  }
  return [...out].slice(0, 20)
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  return `${typeof v} ${JSON.stringify(v)}`
}

function allowedKeys(schema: unknown): string[] {
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties
  return props ? Object.keys(props).filter((k) => k !== '$schema') : []
}

/** A likely typo: the allowed key within edit distance 2. */
export function closest(word: string, choices: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = 3
  for (const c of choices) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d < bestD) {
      bestD = d
      best = c
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

export { dotted }
