import { packageForTarget, type FlowOptions, type PackageRun, type PluginRegistry, type Project } from '@mlx/core'
import { CORE_DIR, findLockfile, parsePlatform } from './context.js'

/** manifest → bundle → artifact, with the CLI's own copy of core as the bundle's source. */
export function packageProject(project: Project, registry: PluginRegistry, opts: FlowOptions): Promise<PackageRun> {
  return packageForTarget(project, registry, { coreDir: CORE_DIR, sourceLock: findLockfile(CORE_DIR), parsePlatform }, opts)
}
