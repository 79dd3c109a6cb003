// Shared by the whole run (vitest globalSetup): one real OCI registry (Debian's docker-registry)
// and one host-node base image as an OCI layout, so every image-based target's tests push to the
// same registry and build on the same base instead of each starting their own.
// Tests read them with inject('registry') / inject('baseImage').
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { makeHostNodeImage } from './registry/base-image.js'
import { hasCommand, startRegistry, type TestRegistry } from './registry/registry.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** 127.0.0.1:PORT of the shared registry, or '' when docker-registry is not installed. */
    registry: string
    /** `oci:DIR:TAG` of the host-node base image (for --base). */
    baseImage: string
    /** Why the registry is missing, for the tests' loud failure. */
    registryMissing: string
  }
}

let registry: TestRegistry | undefined
let work: string | undefined

export async function setup(project: TestProject) {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlx-shared-'))
  const base = await makeHostNodeImage(path.join(work, 'base'))
  project.provide('baseImage', base.ref)
  if (hasCommand('docker-registry')) {
    registry = await startRegistry()
    project.provide('registry', registry.host)
    project.provide('registryMissing', '')
  } else {
    project.provide('registry', '')
    project.provide('registryMissing', 'docker-registry is not installed: run `bash scripts/setup-test-env.sh` (Debian package docker-registry)')
  }
}

export async function teardown() {
  await registry?.stop()
  if (work) await rm(work, { recursive: true, force: true })
}
