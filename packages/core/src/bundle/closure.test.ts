// copyClosure copies installed packages with their links resolved: a link that stays inside its
// package ships as the file it names; one that leads out of the package is refused.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { MlxError } from '../errors.js'
import { copyClosure, hostPlatform } from './closure.js'

const temps: string[] = []
afterEach(async () => {
  for (const d of temps.splice(0)) await rm(d, { recursive: true, force: true })
})

async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), prefix))
  temps.push(d)
  return d
}

/** A one-file package outside any node_modules (a workspace package, as copyClosure sees it). */
async function pkg(): Promise<string> {
  const dir = path.join(await tempDir('mlx-closure-'), 'demo-pkg')
  await mkdir(path.join(dir, 'lib'), { recursive: true })
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'demo-pkg', version: '1.0.0', type: 'module', main: 'index.js' }))
  await writeFile(path.join(dir, 'index.js'), 'export default 1\n')
  await writeFile(path.join(dir, 'lib/data.txt'), 'inside\n')
  return dir
}

describe('copyClosure: links inside packages', () => {
  it('copies a link that stays inside its package as the file it names', async () => {
    const src = await pkg()
    await symlink('lib/data.txt', path.join(src, 'alias.txt'))
    const dest = await tempDir('mlx-closure-dest-')
    await copyClosure([src], dest, hostPlatform())
    expect(await readFile(path.join(dest, 'node_modules/demo-pkg/alias.txt'), 'utf8')).toBe('inside\n')
  })

  it('refuses a link that leads out of its package, naming the package and the link', async () => {
    const src = await pkg()
    const away = await tempDir('mlx-elsewhere-')
    await writeFile(path.join(away, 'secret.txt'), 'canary\n')
    await symlink(path.join(away, 'secret.txt'), path.join(src, 'lib/secret.txt'))
    const dest = await tempDir('mlx-closure-dest-')
    const err = await copyClosure([src], dest, hostPlatform()).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(MlxError)
    expect(err).toMatchObject({ code: 'BUNDLE_FAILED', message: `demo-pkg: lib/secret.txt is a symbolic link to ${path.join(away, 'secret.txt')}, outside the package (${src}); it is not copied into the bundle.` })
    expect(existsSync(path.join(dest, 'node_modules/demo-pkg/lib/secret.txt'))).toBe(false)
  })
})
