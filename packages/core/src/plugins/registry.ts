import 'reflect-metadata'
import { pathToFileURL } from 'node:url'
import { Container, ContainerModule } from 'inversify'
import { MlxError } from '../errors.js'
import type { MlxPlugin, Runtime, Target } from '../contracts.js'
import { closest } from '../manifest/load.js'
import { discoverPlugins, type PluginPackage } from './discover.js'
import { registerFrameOp } from '../server/preprocess.js'
import { registerStep } from '../server/steps.js'

export const RUNTIME = Symbol.for('mlx.Runtime')
export const TARGET = Symbol.for('mlx.Target')
export const PLUGIN = Symbol.for('mlx.Plugin')

export interface LoadedPlugin {
  readonly plugin: MlxPlugin
  readonly pkg?: PluginPackage
}

/**
 * The one place that knows which runtimes and targets exist. Each plugin becomes an inversify
 * ContainerModule binding its runtimes and targets; core asks the container, never a package name.
 */
export class PluginRegistry {
  private readonly container = new Container()
  private readonly loaded: LoadedPlugin[] = []

  /** Registers a plugin object (a discovered package's default export, or one built in a test). */
  async register(plugin: MlxPlugin, pkg?: PluginPackage): Promise<void> {
    checkShape(plugin, pkg)
    const mod = new ContainerModule((options) => {
      options.bind(PLUGIN).toConstantValue(plugin)
      for (const r of plugin.runtimes ?? []) options.bind(RUNTIME).toConstantValue(r)
      for (const t of plugin.targets ?? []) options.bind(TARGET).toConstantValue(t)
    })
    await this.container.load(mod)
    // Ops are looked up by name when endpoints compile; a plugin's ops join the built-in ones.
    try {
      for (const [op, def] of Object.entries(plugin.preprocess ?? {})) registerFrameOp(op, def)
      for (const [op, def] of Object.entries(plugin.postprocess ?? {})) registerStep(op, def)
    } catch (err) {
      throw new MlxError('PLUGIN_INVALID', `${pkg ? `plugin package ${pkg.name}` : `plugin ${plugin.name}`}: ${(err as Error).message}.`, {
        hint: 'rename the op in the plugin (op names are global across plugins).',
      })
    }
    this.loaded.push({ plugin, pkg })
  }

  plugins(): readonly LoadedPlugin[] {
    return this.loaded
  }

  runtimes(): Runtime[] {
    return this.container.isBound(RUNTIME) ? this.container.getAll<Runtime>(RUNTIME) : []
  }

  targets(): Target[] {
    return this.container.isBound(TARGET) ? this.container.getAll<Target>(TARGET) : []
  }

  /** The first registered wins: discovery registers the project's plugins before the CLI's. */
  runtime(name: string): Runtime {
    const r = this.runtimes().find((x) => x.name === name)
    if (r) return r
    const names = this.runtimes().map((x) => x.name)
    const guess = closest(name, names)
    throw new MlxError('PLUGIN_NOT_FOUND', `no runtime named '${name}' is installed (installed: ${names.join(', ') || 'none'}).`, {
      hint: guess ? `did you mean '${guess}'?` : `install the plugin that provides it, e.g. \`npm install @mlx/runtime-${name}\`, in the project or next to the CLI.`,
    })
  }

  target(name: string): Target {
    const t = this.targets().find((x) => x.name === name)
    if (t) return t
    const names = this.targets().map((x) => x.name)
    const guess = closest(name, names)
    throw new MlxError('PLUGIN_NOT_FOUND', `no target named '${name}' is installed (installed: ${names.join(', ') || 'none'}).`, {
      hint: guess ? `did you mean '${guess}'?` : `install the plugin that provides it, e.g. \`npm install @mlx/target-${name}\`; \`mlx targets\` lists what is installed.`,
    })
  }
}

function checkShape(plugin: MlxPlugin, pkg?: PluginPackage): void {
  const where = pkg ? `plugin package ${pkg.name} (${pkg.entry})` : 'plugin'
  const bad = (why: string): never => {
    throw new MlxError('PLUGIN_INVALID', `${where} ${why}.`, {
      hint: 'a plugin module must `export default definePlugin({ name, runtimes?: [...], targets?: [...] })` from @mlx/core.',
    })
  }
  if (!plugin || typeof plugin !== 'object' || typeof plugin.name !== 'string') bad('does not export a plugin object with a name')
  for (const r of plugin.runtimes ?? []) if (typeof r?.name !== 'string' || typeof r.load !== 'function') bad('has a runtime without name/load()')
  for (const t of plugin.targets ?? []) {
    if (typeof t?.name !== 'string') bad('has a target without a name')
    for (const fn of ['package', 'plan', 'deploy'] as const) if (typeof t[fn] !== 'function') bad(`has target '${t.name}' without ${fn}()`)
    if (!t.configSchema || typeof t.configSchema !== 'object') bad(`has target '${t.name}' without a configSchema`)
  }
}

/** Discovers plugin packages from these folders (project first, then the CLI) and registers them. */
export async function loadRegistry(startDirs: readonly string[], extra: readonly MlxPlugin[] = [], opts: { ownOnly?: boolean } = {}): Promise<PluginRegistry> {
  const registry = new PluginRegistry()
  for (const p of extra) await registry.register(p)
  for (const pkg of await discoverPlugins(startDirs, opts)) {
    let mod: { default?: MlxPlugin; plugin?: MlxPlugin }
    try {
      mod = (await import(pathToFileURL(pkg.entry).href)) as typeof mod
    } catch (err) {
      throw new MlxError('PLUGIN_INVALID', `plugin package ${pkg.name} failed to load from ${pkg.entry}: ${(err as Error).message}`, {
        hint: 'reinstall it (npm ci), or remove it from node_modules if you do not need it.',
        cause: err,
      })
    }
    await registry.register((mod.default ?? mod.plugin)!, pkg)
  }
  return registry
}
