import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import { isAlias, isCollection, isPair, LineCounter, parseDocument, visit, type Document } from 'yaml'
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
  let decl: unknown
  try {
    decl = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    throw yamlExpansionError(err, doc, lines, rel, file)
  }
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

/** yaml's guard against "billion laughs" documents: alias expansions allowed while converting. */
const MAX_ALIAS_COUNT = 100

/**
 * yaml refuses (ReferenceError) a document whose aliases expand past MAX_ALIAS_COUNT: a manifest
 * problem with a line, not a bug in mlx. The line is the alias that stands for the most nodes.
 */
function yamlExpansionError(err: unknown, doc: Document, lines: LineCounter, rel: string, file: string): MlxError {
  const first = (err as Error).message.split('\n')[0]
  if (!/alias/i.test(first ?? '')) {
    return new MlxError('MANIFEST_SYNTAX', `${rel}: invalid YAML: ${first}`, { hint: 'fix the YAML at the anchors (&name) and aliases (*name) it uses.', file, cause: err })
  }
  const worst = largestAlias(doc)
  const pos = worst?.offset !== undefined ? lines.linePos(worst.offset) : undefined
  const where = pos ? `${rel}:${pos.line}:${pos.col}` : rel
  return new MlxError(
    'MANIFEST_SYNTAX',
    `${where}: invalid YAML: its aliases expand to too many values${worst ? ` (*${worst.name} here stands for ${worst.size.toLocaleString('en-US')} values)` : ''}; a document whose aliases nest like this ("billion laughs") is refused`,
    {
      hint: `write the values out, or use fewer aliases of aliases (at most ${MAX_ALIAS_COUNT} alias expansions in all).`,
      file,
      cause: err,
    },
  )
}

/**
 * The alias whose expansion is largest, by counting nodes: one pass finds what each alias stands
 * for (the last anchor of its name before it, as yaml resolves it), each anchor is counted once.
 */
function largestAlias(doc: Document): { name: string; size: number; offset?: number } | undefined {
  const anchors = new Map<string, unknown>()
  const targets = new Map<unknown, unknown>()
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) targets.set(node, anchors.get(node.source))
      else if (node.anchor) anchors.set(node.anchor, node)
    },
  })
  const sizes = new Map<unknown, number>()
  let worst: { name: string; size: number; offset?: number } | undefined
  const size = (node: unknown, depth: number): number => {
    const known = sizes.get(node)
    if (known !== undefined) return known
    if (depth > 500) return 1
    sizes.set(node, 1) // an alias inside its own anchor counts once
    let n = 1
    if (isAlias(node)) {
      const target = targets.get(node)
      n = target ? size(target, depth + 1) : 1
      if (!worst || n > worst.size) worst = { name: node.source, size: n, offset: node.range?.[0] }
    } else if (isCollection(node)) {
      for (const item of node.items) n += isPair(item) ? size(item.key, depth + 1) + size(item.value, depth + 1) : size(item, depth + 1)
    }
    sizes.set(node, n)
    return n
  }
  size(doc.contents, 0)
  return worst
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
