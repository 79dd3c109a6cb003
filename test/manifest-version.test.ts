// docs/manifest.md says `version` is SemVer 2.0.0: the manifest schema holds it to that, and a
// version that is not one fails at load (so at `mlx validate`) with the line it is on.
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isMlxError, loadProject } from '@mlx/core'
import { copyExample } from './support/cli.js'

describe('manifest version: SemVer 2.0.0, as the docs say', () => {
  let dir: string
  let yaml: string
  beforeAll(async () => {
    dir = await copyExample('titanic')
    yaml = await readFile(path.join(dir, 'mlx.yaml'), 'utf8')
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const load = async (version: string) => {
    await writeFile(path.join(dir, 'mlx.yaml'), yaml.replace(/^version: .*$/m, `version: '${version}'`))
    return loadProject(dir).then(
      (p) => ({ version: p.version }),
      (err: unknown) => ({ error: isMlxError(err) ? `${err.code}: ${err.message}` : String(err) }),
    )
  }

  it.each(['0.1.0', '1.2.3', '10.20.30', '1.2.3-rc.1', '1.0.0-alpha.beta.1', '1.0.0-0.3.7', '1.0.0-x-y-z.--', '1.2.3+build.5', '1.0.0-alpha+001', '1.0.0+21AF26D3----117B344092BD'])('%s is a version', async (v) => {
    expect(await load(v)).toEqual({ version: v })
  })

  it.each(['1.0.0-..', '1.0.0-', '1.0.0+', '1.0.0-a..b', '1.0.0+a..b', '1.0.0-01', '01.0.0', '1.02.0', '1.2', '1.2.3.4', 'v1.2.3', '1.2.3 '])('%s is not, and says where it is', async (v) => {
    const r = await load(v)
    expect(r).toMatchObject({ error: expect.stringMatching(/^MANIFEST_INVALID: .*mlx\.yaml:\d+:\d+: version: .* does not match .*SemVer 2\.0\.0/s) })
  })
})
