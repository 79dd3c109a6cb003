import { Flags } from '@oclif/core'
import { MlxError, loadRegistry, type FlagSpec, type PluginRegistry } from '@mlx/core'
import { CLI_DIR } from './context.js'

/** The generic flags that take a value, to find the project folder in argv before parsing. */
const VALUED = new Set(['--target', '-t', '--env', '--out', '-o', '--platform', '--to'])

/** The project folder argument as given (the first positional), before oclif parses argv. */
export function dirArgument(argv: readonly string[], valued: ReadonlySet<string>): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') return argv[i + 1] ?? '.'
    if (a.startsWith('-')) {
      if (!a.includes('=') && (VALUED.has(a) || valued.has(a))) i++
      continue
    }
    return a
  }
  return '.'
}

// oclif's flag types differ per kind and options; the parse call takes any of them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type OclifFlag = any

function toOclif(spec: FlagSpec, owners: readonly string[]): OclifFlag {
  const description = `${owners.join(', ')}: ${spec.description}`
  if (spec.type === 'boolean') return Flags.boolean({ description, default: false, helpGroup: 'TARGET' })
  return spec.multiple ? Flags.string({ description, multiple: true, helpGroup: 'TARGET' }) : Flags.string({ description, helpGroup: 'TARGET' })
}

export interface TargetFlags {
  readonly registry: PluginRegistry
  /** oclif flag definitions of every installed target and of the image tool. */
  readonly flags: Record<string, OclifFlag>
  /** Which targets each flag belongs to. */
  readonly owners: Map<string, string[]>
}

/**
 * The flags installed targets contribute (a target's `flags`, and the image tool's for every
 * target that declares `image`), read from the project's plugins and the CLI's before argv is
 * parsed, so `--base` is docker's and `--app` Fly's without the generic commands knowing them.
 */
export async function targetFlags(argv: readonly string[]): Promise<TargetFlags> {
  const first = await loadRegistry([CLI_DIR])
  const valued = new Set<string>()
  const specsOf = (r: PluginRegistry) => {
    const specs = new Map<string, { spec: FlagSpec; owners: string[] }>()
    for (const t of r.targets()) {
      const own = Object.entries(t.flags ?? {})
      let image: [string, FlagSpec][] = []
      if (t.image) {
        try {
          image = Object.entries(r.imageTool(t.name).flags)
        } catch {
          image = []
        }
      }
      for (const [name, spec] of [...image, ...own]) {
        const e = specs.get(name) ?? { spec, owners: [] }
        if (!e.owners.includes(t.name)) e.owners.push(t.name)
        specs.set(name, e)
      }
    }
    return specs
  }
  for (const [name, { spec }] of specsOf(first)) if (spec.type === 'string') valued.add(`--${name}`)
  const registry = await loadRegistry([dirArgument(argv, valued), CLI_DIR])
  const flags: Record<string, OclifFlag> = {}
  const owners = new Map<string, string[]>()
  for (const [name, { spec, owners: o }] of specsOf(registry)) {
    flags[name] = toOclif(spec, o)
    owners.set(name, o)
  }
  return { registry, flags, owners }
}

/** A target flag given for a target it does not belong to is a usage error, not silently ignored. */
export function checkTargetFlags(given: Record<string, unknown>, argv: readonly string[], tf: TargetFlags, target: string): void {
  for (const [name, owners] of tf.owners) {
    const passed = argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `--no-${name}`)
    if (passed && given[name] !== undefined && !owners.includes(target)) {
      throw new MlxError('USAGE', `--${name} is a flag of ${owners.join(', ')}, not of the ${target} target.`, { hint: `drop it, or deploy with --target ${owners[0]}.` })
    }
  }
}
