// Starts an example the way `mlx serve` does, in this process: load the project, find the
// plugins from the repo root, compile the TypeScript handlers, listen on a free port.
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  compileHandlerDir,
  compiledHandlerPath,
  importHandlers,
  loadProject,
  loadRegistry,
  serveProject,
  silentLogger,
  type Project,
} from '@mlx/core'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface Started {
  readonly url: string
  readonly project: Project
  close(): Promise<void>
}

export async function startExample(dir: string): Promise<Started> {
  const project = await loadProject(dir)
  const registry = await loadRegistry([ROOT])
  // Compiled handlers go to a temp folder (never into the repo); its node_modules link lets
  // them import @mlx/core as they do from .mlx/cache or inside a bundle.
  const out = await mkdtemp(path.join(os.tmpdir(), `mlx-${project.name}-handlers-`))
  await symlink(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir')
  const files: Record<string, string> = {}
  for (const ep of project.endpoints) {
    if (!ep.handler) continue
    const target = path.join(out, ep.name)
    await compileHandlerDir(path.dirname(ep.handler.source), target)
    files[ep.name] = compiledHandlerPath(target, ep.handler.relPath)
  }
  const handlers = await importHandlers(files)
  const { server, url } = await serveProject(project, { runtime: (n) => registry.runtime(n), handlers, port: 0, host: '127.0.0.1', log: silentLogger })
  return {
    url,
    project,
    async close() {
      await server.close()
      await rm(out, { recursive: true, force: true })
    },
  }
}

export async function call(url: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: init?.method ?? (init?.body === undefined ? 'GET' : 'POST'),
    headers: init?.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init?.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}
