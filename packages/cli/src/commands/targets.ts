import { loadRegistry } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { CLI_DIR } from '../context.js'

export default class Targets extends MlxCommand {
  static override summary = 'List installed targets (with their config schema) and runtimes.'
  static override examples = ['<%= config.bin %> targets', '<%= config.bin %> targets --json']

  async run() {
    await this.parse(Targets)
    const registry = await loadRegistry([process.cwd(), CLI_DIR])
    const targets = registry.targets().map((t) => ({ name: t.name, description: t.description, configSchema: t.configSchema }))
    const runtimes = registry.runtimes().map((r) => r.name)
    const from = new Map(registry.plugins().flatMap((p) => [...(p.plugin.targets ?? []), ...(p.plugin.runtimes ?? [])].map((x) => [x.name, p.pkg ? `${p.pkg.name}@${p.pkg.version}` : p.plugin.name])))
    this.say('Targets:')
    for (const t of targets) {
      this.say(`  ${t.name.padEnd(10)} ${t.description ?? ''}  (${from.get(t.name)})`)
      const props = (t.configSchema as { properties?: Record<string, { type?: string; default?: unknown; description?: string }> }).properties ?? {}
      for (const [k, v] of Object.entries(props)) this.say(`      targets.${t.name}.${k}: ${v.type ?? 'any'}${v.default !== undefined ? ` = ${JSON.stringify(v.default)}` : ''}${v.description ? `  — ${v.description}` : ''}`)
    }
    this.say(`Runtimes: ${runtimes.map((r) => `${r} (${from.get(r)})`).join(', ') || 'none'}`)
    return { targets, runtimes }
  }
}
