import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

// TF.js keeps one backend per process, so each choice is checked in a fresh Node process that
// imports the built plugin (dist/), as a served bundle would.
const DIST = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/index.js')).href
const script = `
const { tfBackend } = await import(${JSON.stringify(DIST)})
const lines = []
const log = { info: (m) => lines.push('info: ' + m), warn: (m) => lines.push('warn: ' + m), debug: () => {}, step: (_t, w) => w() }
const b = await tfBackend(log)
const again = await tfBackend(log)
console.log(JSON.stringify({ name: b.name, active: b.tf.getBackend(), version: b.version, fallback: b.fallback, same: b === again, lines }))
`
async function pick(env: Record<string, string>) {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } })
  return JSON.parse(stdout.trim().split('\n').pop()!) as { name: string; active: string; version: string; fallback: string; same: boolean; lines: string[] }
}

describe('tfjs backend choice', () => {
  it('uses wasm when tfjs-node is absent, once per process, and says why', async () => {
    const b = await pick({})
    expect(b).toMatchObject({ name: 'wasm', active: 'wasm', same: true })
    expect(b.version).toMatch(/^4\./)
    expect(b.fallback).toContain('@tensorflow/tfjs-node is not installed')
    expect(b.lines.filter((l) => l.startsWith('warn'))).toEqual([])
  })

  it("falls back to the JavaScript 'cpu' backend with a warning that says why", async () => {
    const b = await pick({ MLX_TFJS_BACKEND: 'cpu' })
    expect(b).toMatchObject({ name: 'cpu', active: 'cpu' })
    expect(b.lines).toContainEqual(expect.stringMatching(/^warn: tfjs: falling back to the slow JavaScript 'cpu' backend \(MLX_TFJS_BACKEND=cpu\)/))
  })
})
