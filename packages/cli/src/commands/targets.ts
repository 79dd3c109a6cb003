import { loadRegistry } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { CLI_DIR } from '../context.js'

export default class Targets extends MlxCommand {
  static override summary = 'List installed targets (with their config schema) and runtimes.'
  static override examples = ['<%= config.bin %> targets', '<%= config.bin %> targets --json']

  async run() {
    await this.parse(Targets)
    const registry = await loadRegistry([process.cwd(), CLI_DIR])
    const flagsOf = (t: (typeof all)[number]) => ({ ...(t.image ? safeImageFlags(t.name) : {}), ...t.flags })
    const safeImageFlags = (name: string) => {
      try {
        return registry.imageTool(name).flags
      } catch {
        return {}
      }
    }
    const all = registry.targets()
    const targets = all.map((t) => ({ name: t.name, description: t.description, image: t.image !== undefined, flags: flagsOf(t), configSchema: t.configSchema }))
    const runtimes = registry.runtimes().map((r) => r.name)
    const from = new Map(registry.plugins().flatMap((p) => [...(p.plugin.targets ?? []), ...(p.plugin.runtimes ?? [])].map((x) => [x.name, p.pkg ? `${p.pkg.name}@${p.pkg.version}` : p.plugin.name])))
    this.say('Targets:')
    for (const t of targets) {
      this.say(`  ${t.name.padEnd(10)} ${t.description ?? ''}  (${from.get(t.name)})`)
      const props = (t.configSchema as { properties?: Record<string, { type?: string; default?: unknown; description?: string }> }).properties ?? {}
      for (const [k, v] of Object.entries(props)) this.say(`      targets.${t.name}.${k}: ${v.type ?? 'any'}${v.default !== undefined ? ` = ${JSON.stringify(v.default)}` : ''}${v.description ? `  — ${v.description}` : ''}`)
      for (const [k, f] of Object.entries(t.flags)) this.say(`      --${k}${f.type === 'string' ? ' VALUE' : ''}${f.multiple ? ' (repeatable)' : ''}  — ${f.description}`)
    }
    this.say(`Runtimes: ${runtimes.map((r) => `${r} (${from.get(r)})`).join(', ') || 'none'}`)
    return { targets, runtimes }
  }
}
