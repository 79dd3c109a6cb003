// readManifest: YAML syntax and schema problems come back as one MlxError that names the file,
// the line and column, and the key, with a "did you mean" for typos.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MlxError } from '../errors.js'
import { closest, manifestPath, readManifest } from './load.js'

let root: string
let n = 0
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'mlx-manifest-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

/** A fresh folder holding only mlx.yaml with this text. */
async function manifest(text: string): Promise<string> {
  const dir = path.join(root, `p${n++}`)
  await mkdir(dir)
  await writeFile(path.join(dir, 'mlx.yaml'), text)
  return dir
}

/** The MlxError readManifest throws for this text (fails the test if it does not throw one). */
async function problem(text: string): Promise<MlxError> {
  const dir = await manifest(text)
  const err = await readManifest(dir).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'readManifest should have rejected').toBeInstanceOf(MlxError)
  return err as MlxError
}

const GOOD = `name: demo
models:
  titanic:
    runtime: onnx
    path: model.onnx
endpoints:
  predict:
    model: titanic
`

describe('readManifest', () => {
  it('reads a valid manifest and keeps what was written', async () => {
    const dir = await manifest(GOOD)
    const { decl, file } = await readManifest(dir)
    expect(file).toBe(path.join(dir, 'mlx.yaml'))
    expect(decl.name).toBe('demo')
    expect(decl.models.titanic).toEqual({ runtime: 'onnx', path: 'model.onnx' })
    expect(decl.endpoints.predict).toEqual({ model: 'titanic' })
  })

  it('accepts a path to the file itself', async () => {
    const dir = await manifest(GOOD)
    expect((await readManifest(path.join(dir, 'mlx.yaml'))).decl.name).toBe('demo')
  })

  it('reports a missing folder and a folder without mlx.yaml as MANIFEST_NOT_FOUND', async () => {
    await expect(manifestPath(path.join(root, 'does-not-exist'))).rejects.toMatchObject({ code: 'MANIFEST_NOT_FOUND', message: expect.stringContaining('does not exist') })
    const empty = await mkdtemp(path.join(root, 'empty-'))
    await expect(readManifest(empty)).rejects.toMatchObject({ code: 'MANIFEST_NOT_FOUND', message: expect.stringContaining('no mlx.yaml in') })
  })

  it('names file:line:col for malformed YAML (an unclosed flow sequence)', async () => {
    const err = await problem('name: x\nmodels:\n  a: [1, 2\nendpoints: {}\n')
    expect(err.code).toBe('MANIFEST_SYNTAX')
    expect(err.message).toMatch(/mlx\.yaml:4:1: invalid YAML: /)
    expect(err.hint).toMatch(/YAML syntax/)
    expect(err.file).toMatch(/mlx\.yaml$/)
  })

  it('names file:line:col for malformed YAML (bad indentation)', async () => {
    const err = await problem('name: x\nmodels:\n  a:\n    runtime: onnx\n   path: m.onnx\n')
    expect(err.code).toBe('MANIFEST_SYNTAX')
    expect(err.message).toMatch(/mlx\.yaml:5:\d+: invalid YAML: /)
  })

  it('rejects duplicate keys as a syntax error', async () => {
    const err = await problem(GOOD + 'name: again\n')
    expect(err.code).toBe('MANIFEST_SYNTAX')
    expect(err.message).toMatch(/mlx\.yaml:9:1: /)
  })

  it('rejects a document that is not a mapping', async () => {
    const err = await problem('- just\n- a list\n')
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toMatch(/expected a mapping with name, models and endpoints/)
  })

  it('suggests the key meant by a typo (modle → model), at the key’s line', async () => {
    const err = await problem(GOOD.replace('    model: titanic', '    modle: titanic'))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toContain('mlx.yaml:8:5: endpoints.predict.modle: unknown key (did you mean \'model\'?)')
  })

  it('lists the allowed keys when no key is close to an unknown one', async () => {
    const err = await problem(GOOD + 'frobnicate: true\n')
    expect(err.message).toMatch(/mlx\.yaml:9:1: frobnicate: unknown key \(expected one of: name, version, description, models, endpoints/)
  })

  it('names the wrong type and the value found (path: 3)', async () => {
    const err = await problem(GOOD.replace('path: model.onnx', 'path: 3'))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toContain('mlx.yaml:5:11: models.titanic.path: expected string, got number 3')
  })

  it('names a missing required key and where its parent is', async () => {
    const err = await problem(GOOD.replace('    runtime: onnx\n', ''))
    expect(err.code).toBe('MANIFEST_INVALID')
    expect(err.message).toContain("mlx.yaml:4:5: models.titanic: missing required key 'runtime'")
  })

  it('names a missing top-level key', async () => {
    const err = await problem(GOOD.replace('name: demo\n', ''))
    expect(err.message).toMatch(/\(top level\): missing required key 'name'/)
  })

  it('reports a bad enum value and a bad project name with the rule', async () => {
    const err = await problem(GOOD.replace('name: demo', 'name: Demo_Project') + '    method: PATCH\n')
    expect(err.message).toMatch(/has 2 problems/)
    expect(err.message).toMatch(/mlx\.yaml:1:7: name: "Demo_Project" does not match .*lowercase letters, digits, dashes/)
    expect(err.message).toMatch(/mlx\.yaml:9:13: endpoints\.predict\.method: expected one of "GET", "POST", "PUT", got "PATCH"/)
  })

  it('reports every problem at once, each with its own line', async () => {
    const text = GOOD.replace('path: model.onnx', 'path: 3').replace('    model: titanic', '    modle: titanic')
    const err = await problem(text)
    expect(err.message).toMatch(/has 2 problems:/)
    expect(err.message).toContain('mlx.yaml:5:11: models.titanic.path')
    expect(err.message).toContain('mlx.yaml:8:5: endpoints.predict.modle')
  })
})

describe('readManifest: YAML aliases', () => {
  it('reports a "billion laughs" document as MANIFEST_SYNTAX at the alias that expands most, quickly', async () => {
    const bomb = [
      'name: demo',
      'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
      'f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
      'g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]',
      'h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]',
      'i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]',
      'models: {}',
      'endpoints: {}',
      '',
    ].join('\n')
    const started = Date.now()
    const err = await problem(bomb)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(err.code).toBe('MANIFEST_SYNTAX')
    // Line 10 holds the aliases of the largest anchor (*h: 9^8 strings and the lists around them).
    expect(err.message).toMatch(/mlx\.yaml:10:5: invalid YAML: its aliases expand to too many values \(\*h here stands for 48,427,561 values\); .*billion laughs/)
    expect(err.hint).toMatch(/fewer aliases of aliases/)
    expect(err.file).toMatch(/mlx\.yaml$/)
  })

  it('answers at once for a document of many thousands of aliases too', async () => {
    const many = `name: demo\nx: &x { a: 1, b: [1, 2, 3] }\nys:\n${'  - *x\n'.repeat(20_000)}models: {}\nendpoints: {}\n`
    const started = Date.now()
    const err = await problem(many)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(err.code).toBe('MANIFEST_SYNTAX')
    expect(err.message).toMatch(/mlx\.yaml:4:5: invalid YAML: its aliases expand to too many values \(\*x here stands for 8 values\)/)
  })

  it('still reads a manifest that reuses a value through an alias', async () => {
    const dir = await manifest(GOOD.replace('    model: titanic\n', '    model: titanic\n    summary: &s Survival\n    description: *s\n'))
    const { decl } = await readManifest(dir)
    expect(decl.endpoints.predict).toMatchObject({ summary: 'Survival', description: 'Survival' })
  })
})

describe('closest', () => {
  it('finds the allowed word within edit distance 2, case-insensitively, or nothing', () => {
    expect(closest('modle', ['model', 'models', 'handler'])).toBe('model')
    expect(closest('Endpionts', ['name', 'endpoints'])).toBe('endpoints')
    expect(closest('zzzzzz', ['model', 'handler'])).toBeUndefined()
  })
})
