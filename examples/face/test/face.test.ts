// The face service end to end: served through core (as `mlx serve` does), then deployed with the
// real CLI to the local target. Real models, real images, no doubles.
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileHandlerDir, compiledHandlerPath, importHandlers, loadProject, loadRegistry, serveProject, silentLogger, type MlxServer } from '@mlx/core'
import { copyExample, freePort, mlx, ROOT } from '../../../test/support/cli.js'

const DIR = path.join(ROOT, 'examples/face')
const JPG = path.join(DIR, 'data/astronaut.jpg')
const PNG = path.join(DIR, 'data/astronaut.png')

interface Face {
  box: { x: number; y: number; width: number; height: number }
  score: number
  age: number
  gender: string
  gender_probability: number
}
interface Answer {
  faces: Face[]
  count: number
}
interface Problem {
  type: string
  loc: (string | number)[]
  msg: string
}

function multipart(file: Buffer, name: string, type: string): FormData {
  const form = new FormData()
  form.append('image', new Blob([file], { type }), name)
  return form
}
const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** One face, where the astronaut's face is in the 512×512 photo, with an age and a gender. */
function expectAstronaut(a: Answer): Face {
  expect(a.count).toBe(1)
  expect(a.faces).toHaveLength(1)
  const f = a.faces[0]!
  expect(f.score).toBeGreaterThan(0.9)
  // The face is left of centre, in the upper third (face-api's own detector: 163,76 116×110).
  expect(f.box.x).toBeGreaterThan(140)
  expect(f.box.y).toBeGreaterThan(40)
  expect(f.box.x + f.box.width).toBeLessThan(300)
  expect(f.box.y + f.box.height).toBeLessThan(200)
  expect(f.box.width).toBeGreaterThan(60)
  expect(f.box.height).toBeGreaterThan(60)
  expect(f.age).toBeGreaterThan(10)
  expect(f.age).toBeLessThan(80)
  expect(['male', 'female']).toContain(f.gender)
  expect(f.gender_probability).toBeGreaterThanOrEqual(0.5)
  expect(f.gender_probability).toBeLessThanOrEqual(1)
  return f
}

describe('face service served through core', () => {
  let server: MlxServer
  let url: string
  let jpg: Buffer
  let png: Buffer

  beforeAll(async () => {
    jpg = await readFile(JPG)
    png = await readFile(PNG)
    const project = await loadProject(DIR)
    // The project's plugins first, then the workspace's (as the CLI does with its own folder).
    const registry = await loadRegistry([project.root, ROOT])
    // Compiled inside the project (as `mlx serve` does, under the ignored .mlx/) so the handler's
    // imports (face-api, tfjs) resolve from the project's node_modules.
    const files: Record<string, string> = {}
    for (const ep of project.endpoints) {
      if (!ep.handler) continue
      const out = path.join(project.root, '.mlx', 'cache', 'test-handlers', ep.name)
      await compileHandlerDir(path.dirname(ep.handler.source), out)
      files[ep.name] = compiledHandlerPath(out, ep.handler.relPath)
    }
    const handlers = await importHandlers(files)
    ;({ server, url } = await serveProject(project, { runtime: (n) => registry.runtime(n), handlers, port: 0, host: '127.0.0.1', log: silentLogger }))
  })
  afterAll(async () => {
    await server?.close()
  })

  it('finds exactly one face in the astronaut JPEG sent as multipart/form-data, with age and gender', async () => {
    const res = await fetch(`${url}/predict`, { method: 'POST', body: multipart(jpg, 'astronaut.jpg', 'image/jpeg') })
    expect(res.status).toBe(200)
    expectAstronaut((await res.json()) as Answer)
  })

  it('finds the same face in the PNG sent as base64 JSON (plain and as a data: URL)', async () => {
    const viaJpg = expectAstronaut((await (await fetch(`${url}/predict`, { method: 'POST', body: multipart(jpg, 'a.jpg', 'image/jpeg') })).json()) as Answer)
    const res = await fetch(`${url}/predict`, json({ image: png.toString('base64') }))
    expect(res.status).toBe(200)
    const viaPng = expectAstronaut((await res.json()) as Answer)
    for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(viaPng.box[k] - viaJpg.box[k])).toBeLessThan(4)
    const dataUrl = await fetch(`${url}/predict`, json({ image: `data:image/png;base64,${png.toString('base64')}` }))
    expect(dataUrl.status).toBe(200)
    expect(((await dataUrl.json()) as Answer).count).toBe(1)
  })

  it('reports boxes on the upright photo when a phone stored it rotated (EXIF orientation 6)', async () => {
    // Pixels stored turned 90° anticlockwise, tagged "rotate 90° clockwise to view": viewers show it upright.
    const sideways = await sharp(jpg).rotate(270).jpeg({ quality: 92 }).withMetadata({ orientation: 6 }).toBuffer()
    expect((await sharp(sideways).metadata()).orientation).toBe(6)
    const upright = expectAstronaut((await (await fetch(`${url}/predict`, { method: 'POST', body: multipart(jpg, 'a.jpg', 'image/jpeg') })).json()) as Answer)
    const res = await fetch(`${url}/predict`, { method: 'POST', body: multipart(sideways, 'phone.jpg', 'image/jpeg') })
    expect(res.status).toBe(200)
    const turned = expectAstronaut((await res.json()) as Answer)
    for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(turned.box[k] - upright.box[k])).toBeLessThan(6)
  })

  it('answers a photo without a face with an empty list', async () => {
    const wall = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#8a8f96' } }).jpeg().toBuffer()
    const res = await fetch(`${url}/predict`, { method: 'POST', body: multipart(wall, 'wall.jpg', 'image/jpeg') })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ faces: [], count: 0 })
  })

  it('serves the detector alone from the manifest (image op + nms), boxes in pixels of the photo', async () => {
    const predicted = expectAstronaut((await (await fetch(`${url}/predict`, { method: 'POST', body: multipart(jpg, 'a.jpg', 'image/jpeg') })).json()) as Answer)
    const res = await fetch(`${url}/detect`, { method: 'POST', body: multipart(jpg, 'a.jpg', 'image/jpeg') })
    expect(res.status).toBe(200)
    const out = (await res.json()) as { faces: { box: Face['box']; score: number }[]; count: number }
    expect(out.count).toBe(1)
    expect(out.faces[0]!.score).toBeGreaterThan(0.9)
    expect(Math.abs(out.faces[0]!.box.x - predicted.box.x)).toBeLessThan(0.5)
    expect(Math.abs(out.faces[0]!.box.height - predicted.box.height)).toBeLessThan(0.5)
  })

  it('answers a corrupt image with a 422 naming the field', async () => {
    const res = await fetch(`${url}/predict`, { method: 'POST', body: multipart(jpg.subarray(0, jpg.length / 2), 'broken.jpg', 'image/jpeg') })
    expect(res.status).toBe(422)
    const { detail } = (await res.json()) as { detail: Problem[] }
    expect(detail).toHaveLength(1)
    expect(detail[0]).toMatchObject({ type: 'image_invalid', loc: ['body', 'image'], input: null })
    expect(detail[0]!.msg).toMatch(/^'image' is not a usable image: the image cannot be decoded, it is corrupt or truncated/)
  })

  it('answers a text file with a 422 naming the field, multipart or base64', async () => {
    const text = Buffer.from('name,age\nEileen,42\n')
    const res = await fetch(`${url}/predict`, { method: 'POST', body: multipart(text, 'people.csv', 'text/csv') })
    expect(res.status).toBe(422)
    const { detail } = (await res.json()) as { detail: Problem[] }
    expect(detail[0]).toMatchObject({ type: 'image_invalid', loc: ['body', 'image'] })
    expect(detail[0]!.msg).toContain('the file is not an image (expected JPEG, PNG, WebP)')
    const b64 = await fetch(`${url}/detect`, json({ image: text.toString('base64') }))
    expect(b64.status).toBe(422)
    expect(((await b64.json()) as { detail: Problem[] }).detail[0]!.loc).toEqual(['body', 'image'])
    const notBase64 = await fetch(`${url}/predict`, json({ image: 'this is not base64!' }))
    expect(notBase64.status).toBe(422)
    expect(((await notBase64.json()) as { detail: Problem[] }).detail[0]).toMatchObject({ type: 'bytes_type', loc: ['body', 'image'] })
  })

  it('takes one photo per request, and says so', async () => {
    const res = await fetch(`${url}/predict`, json({ image: [jpg.toString('base64'), jpg.toString('base64')] }))
    expect(res.status).toBe(422)
    expect(((await res.json()) as { detail: Problem[] }).detail[0]).toMatchObject({ type: 'too_long', loc: ['body', 'image'] })
    const missing = await fetch(`${url}/predict`, json({ photo: jpg.toString('base64') }))
    expect(missing.status).toBe(422)
    expect(((await missing.json()) as { detail: Problem[] }).detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'image'] })
  })

  it('documents a file input (multipart and base64) and the structured output in OpenAPI', async () => {
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as any
    const op = spec.paths['/predict'].post
    expect(op.requestBody.content['multipart/form-data'].schema.properties.image).toMatchObject({ type: 'string', format: 'binary' })
    expect(spec.components.schemas.PredictRow.properties.image).toMatchObject({ type: 'string', contentEncoding: 'base64' })
    expect(op.responses['200'].content['application/json'].schema.properties.faces.items.required).toEqual(['box', 'score', 'age', 'gender', 'gender_probability'])
  })
})

describe('face service deployed with the CLI to the local target', () => {
  const cleanup: string[] = []
  let pid: number | undefined
  afterAll(async () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        // already stopped
      }
    }
    for (const d of cleanup) await rm(d, { recursive: true, force: true }).catch(() => {})
  })

  it('deploys a copy of the example, answers the astronaut photo, and stops on SIGTERM', { timeout: 300_000 }, async () => {
    const port = await freePort()
    const dir = await copyExample('face', (y) => y.replace('    port: 8080', `    port: ${port}`))
    cleanup.push(dir)
    // A copy has no node_modules. The project's own dependencies (face-api, tfjs for the handler)
    // are resolved from the project folder when the bundle is built, so the copy gets the
    // workspace's installed packages as if `npm install` had run in it.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
    // The artifact goes outside the copy: from there, nothing above the bundle holds a
    // node_modules, so the deployment can only use what the bundle itself carries.
    const out = await mkdtemp(path.join(os.tmpdir(), 'mlx-face-artifact-'))
    cleanup.push(out)

    const r = await mlx(['deploy', dir, '--out', out, '--json'], { timeoutMs: 280_000 })
    expect(r.code, r.stderr).toBe(0)
    const deployed = JSON.parse(r.stdout) as { url: string; paths: { bundle: string }; deployment: { details: { pid: number } } }
    pid = deployed.deployment.details.pid
    expect(deployed.url).toBe(`http://127.0.0.1:${port}`)
    const bundle = deployed.paths.bundle
    expect(bundle.startsWith(out)).toBe(true)
    for (const f of ['models/ultraface/version-RFB-320.onnx', 'models/age_gender/age_gender_model.bin', 'node_modules/@vladmandic/face-api/package.json', 'node_modules/@tensorflow/tfjs-backend-wasm/package.json', 'node_modules/@mlx/runtime-image/package.json']) {
      expect(existsSync(path.join(bundle, f)), f).toBe(true)
    }

    const res = await fetch(`${deployed.url}/predict`, { method: 'POST', body: multipart(await readFile(JPG), 'astronaut.jpg', 'image/jpeg') })
    expect(res.status).toBe(200)
    expectAstronaut((await res.json()) as Answer)

    process.kill(pid, 'SIGTERM')
    const until = Date.now() + 20_000
    while (Date.now() < until && alive(pid)) await new Promise((r) => setTimeout(r, 100))
    expect(alive(pid)).toBe(false)
    pid = undefined
  })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
