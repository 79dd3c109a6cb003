// The layer writer: same files → same bytes (hence the same digest), in a format GNU tar and gzip
// read back exactly, with long paths, modes, owners and times as intended.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crc32, crc32Table, GZIP_HEADER, withParents, writeTarGz, type TarEntry } from './tar.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mlx-tar-'))
  await mkdir(path.join(dir, 'src/lib'), { recursive: true })
  await writeFile(path.join(dir, 'src/index.js'), 'console.log("hi")\n')
  await writeFile(path.join(dir, 'src/lib/big.bin'), Buffer.alloc(5 * 1024 * 1024 + 3, 7)) // > the small-file path
  await writeFile(path.join(dir, 'src/run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 })
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const LONG = `app/${'deeply-nested-folder/'.repeat(6)}file-with-a-long-name.js` // > 100 bytes: prefix/name split
const VERY_LONG = `app/${'x'.repeat(120)}/${'y'.repeat(120)}.js` // no split fits: PAX path record

async function entries(): Promise<TarEntry[]> {
  const file = async (p: string, src: string, mode = 0o644): Promise<TarEntry> => ({ path: p, type: 'file', mode, size: (await stat(src)).size, source: src })
  return [
    await file('app/index.js', path.join(dir, 'src/index.js')),
    await file('app/lib/big.bin', path.join(dir, 'src/lib/big.bin')),
    await file('app/run.sh', path.join(dir, 'src/run.sh'), 0o755),
    { path: LONG, type: 'file', mode: 0o644, source: Buffer.from('long\n'), size: 5 },
    { path: VERY_LONG, type: 'file', mode: 0o644, source: Buffer.from('very long\n'), size: 10 },
    { path: 'app/link', type: 'symlink', mode: 0o777, linkname: 'index.js' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
  ]
}

describe('writeTarGz', () => {
  it('gives the same bytes for the same files, whatever order they are listed in', async () => {
    const e = await entries()
    const a = await writeTarGz(withParents(e), path.join(dir, 'a.tgz'))
    const b = await writeTarGz(withParents([...e].reverse()), path.join(dir, 'b.tgz'))
    expect(b).toEqual(a)
    expect(await readFile(path.join(dir, 'b.tgz'))).toEqual(await readFile(path.join(dir, 'a.tgz')))
    // A different time is a different layer.
    const c = await writeTarGz(withParents(e), path.join(dir, 'c.tgz'), { mtime: 1_700_000_000 })
    expect(c.diffId).not.toBe(a.diffId)
  })

  it('writes a fixed gzip header, a correct trailer, and reports diffId/digest/sizes of both forms', async () => {
    const d = await writeTarGz(withParents(await entries()), path.join(dir, 'h.tgz'))
    const gz = await readFile(path.join(dir, 'h.tgz'))
    expect(gz.subarray(0, 10)).toEqual(GZIP_HEADER) // no name, MTIME 0, OS 255
    expect(d.size).toBe(gz.length)
    expect(d.digest).toBe(`sha256:${createHash('sha256').update(gz).digest('hex')}`)
    const tar = zlib.gunzipSync(gz) // checks CRC and ISIZE
    expect(d.uncompressedSize).toBe(tar.length)
    expect(d.diffId).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`)
    expect(tar.length % 512).toBe(0)
    expect(tar.subarray(-1024).every((b) => b === 0)).toBe(true) // two zero blocks end the archive
    execFileSync('gzip', ['-t', path.join(dir, 'h.tgz')])
  })

  it('is read back by GNU tar: sorted, parents first, root-owned, epoch times, modes kept, long paths intact', async () => {
    const file = path.join(dir, 'r.tgz')
    await writeTarGz(withParents(await entries()), file)
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', file], { encoding: 'utf8' }).trim().split('\n')
    const names = listing.map((l) => l.split(/\s+/).slice(5).join(' '))
    expect(names).toEqual([
      'app/',
      `app/${'deeply-nested-folder/'.repeat(1)}`,
      ...Array.from({ length: 5 }, (_, i) => `app/${'deeply-nested-folder/'.repeat(i + 2)}`),
      LONG,
      'app/index.js',
      'app/lib/',
      'app/lib/big.bin',
      'app/link -> index.js',
      'app/run.sh',
      `app/${'x'.repeat(120)}/`,
      VERY_LONG,
      'tmp/',
    ])
    for (const l of listing) expect(l).toMatch(/ 0\/0 .* 1970-01-01 00:00:00 /)
    expect(listing.find((l) => l.endsWith('app/run.sh'))).toMatch(/^-rwxr-xr-x /)
    expect(listing.find((l) => l.endsWith('app/index.js'))).toMatch(/^-rw-r--r-- /)
    expect(listing.find((l) => l.endsWith('tmp/'))).toMatch(/^drwxrwxrwt /)

    const out = path.join(dir, 'x')
    await mkdir(out)
    execFileSync('tar', ['-xzf', file, '-C', out])
    expect(await readFile(path.join(out, VERY_LONG), 'utf8')).toBe('very long\n')
    expect(await readFile(path.join(out, LONG), 'utf8')).toBe('long\n')
    expect((await readFile(path.join(out, 'app/lib/big.bin'))).equals(await readFile(path.join(dir, 'src/lib/big.bin')))).toBe(true)
  })

  it('refuses paths that could escape the layer, duplicates, and files that change size under it', async () => {
    expect(() => withParents([{ path: '../etc/passwd', type: 'file', mode: 0o644, source: Buffer.alloc(0) }])).toThrow(/relative and normalized/)
    expect(() => withParents([{ path: '/abs', type: 'dir', mode: 0o755 }])).toThrow(/relative/)
    expect(() => withParents([{ path: 'a', type: 'dir', mode: 0o755 }, { path: 'a', type: 'dir', mode: 0o755 }])).toThrow(/duplicate/)
    const wrong: TarEntry = { path: 'app/index.js', type: 'file', mode: 0o644, size: 3, source: path.join(dir, 'src/index.js') }
    await expect(writeTarGz([wrong], path.join(dir, 'bad.tgz'))).rejects.toThrow(/changed size/)
  })
})

describe('crc32', () => {
  it('matches the standard check value and zlib', () => {
    expect(crc32Table(Buffer.from('123456789'))).toBe(0xcbf43926)
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) & 0xff))
    expect(crc32Table(data.subarray(5000), crc32Table(data.subarray(0, 5000)))).toBe(crc32(data))
  })
})
