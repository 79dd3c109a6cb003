import 'reflect-metadata'
import { pathToFileURL } from 'node:url'
import { Container, ContainerModule } from 'inversify'
import { MlxError } from '../errors.js'
import type { MlxPlugin, Runtime, Target } from '../contracts.js'
import { envCredentials } from '../credentials.js'
import { systemClock, type Clock } from '../deploy/clock.js'
import type { TargetServices } from '../deploy/context.js'
import type { Fetch } from '../deploy/http.js'
import type { ImageTool } from '../deploy/image.js'
import type { Credentials } from '../types.js'
import { closest } from '../manifest/load.js'
import { discoverPlugins, type PluginPackage } from './discover.js'
import { registerFrameOp } from '../server/preprocess.js'
import { registerStep } from '../server/postprocess.js'

export const RUNTIME = Symbol.for('mlx.Runtime')
export const TARGET = Symbol.for('mlx.Target')
export const PLUGIN = Symbol.for('mlx.Plugin')
export const IMAGE_TOOL = Symbol.for('mlx.ImageTool')
/** The services every target context is made of; rebind one (`registry.override`) to substitute it in a test. */
export const CLOCK = Symbol.for('mlx.Clock')
export const FETCH = Symbol.for('mlx.Fetch')
export const CREDENTIALS = Symbol.for('mlx.Credentials')

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

  constructor() {
    // Real time, the network and the environment; each has exactly one production implementation,
    // and is a binding so an in-process test can swap it without patching globals.
    this.container.bind<Clock>(CLOCK).toConstantValue(systemClock)
    this.container.bind<Fetch>(FETCH).toConstantValue((...a) => globalThis.fetch(...a))
    this.container.bind<Credentials>(CREDENTIALS).toDynamicValue(() => envCredentials())
  }

  /** Replaces a service binding (CLOCK, FETCH, CREDENTIALS): how a test substitutes time, the network or the environment. */
  override<T>(id: symbol, value: T): void {
    this.container.rebindSync<T>(id).toConstantValue(value)
  }

  /** What a target context is made of. */
  services(): TargetServices {
    return { clock: this.container.get<Clock>(CLOCK), fetch: this.container.get<Fetch>(FETCH), credentials: this.container.get<Credentials>(CREDENTIALS) }
  }

  /** The image builder/publisher for a target that declares `image` (the first registered wins). */
  imageTool(forTarget: string): ImageTool {
    const tools = this.container.isBound(IMAGE_TOOL) ? this.container.getAll<ImageTool>(IMAGE_TOOL) : []
    if (tools[0]) return tools[0]
    throw new MlxError('PLUGIN_NOT_FOUND', `the ${forTarget} target runs an OCI image, but no installed plugin builds images.`, {
      hint: 'install @mlx/target-docker (it provides the image builder and publisher) next to the CLI or in the project.',
    })
  }

  /** Registers a plugin object (a discovered package's default export, or one built in a test). */
  async register(plugin: MlxPlugin, pkg?: PluginPackage): Promise<void> {
    checkShape(plugin, pkg)
    const mod = new ContainerModule((options) => {
      options.bind(PLUGIN).toConstantValue(plugin)
      for (const r of plugin.runtimes ?? []) options.bind(RUNTIME).toConstantValue(r)
      for (const t of plugin.targets ?? []) options.bind(TARGET).toConstantValue(t)
      if (plugin.images) options.bind(IMAGE_TOOL).toConstantValue(plugin.images)
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
