// Looks for a canary everywhere a deploy writes: the texts it printed, and every file under a
// folder, as bytes, with zips unpacked and gzip blobs (OCI layers) inflated first.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'

/**
 * Secrets for one test: every value contains `core`, so finding `core` anywhere (even half a
 * token cut by a slice) is a leak. Values look like the real thing (long, URL-safe).
 */
export function canaries(prefix = 'canary') {
  const core = `${prefix}${randomBytes(6).toString('hex')}`
  return { core, make: (role: string) => `${core}-${role}-${randomBytes(9).toString('base64url')}` }
}

const unzip = (file: string) =>
  new Promise<Buffer>((resolve) => execFile('unzip', ['-p', file], { encoding: 'buffer', maxBuffer: 4 * 1024 * 1024 * 1024 }, (_err, stdout) => resolve(stdout ?? Buffer.alloc(0))))

async function* files(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) yield* files(p)
    else if (e.isFile()) yield p
  }
}

const inflate = promisify(gunzip)

export interface Leak {
  readonly where: string
  readonly context: string
}

/**
 * `core` as it reads inside base64 (a Basic header, a docker config's auth) at each of the three
 * alignments, standard and URL-safe: the characters that depend on its bytes alone.
 */
export function base64Forms(core: string): string[] {
  const forms = new Set<string>()
  for (let pad = 0; pad < 3; pad++) {
    const b = Buffer.concat([Buffer.alloc(pad), Buffer.from(core)])
    const full = b.toString('base64').slice(pad ? 4 : 0, 4 * Math.floor(b.length / 3))
    forms.add(full)
    forms.add(full.replace(/\+/g, '-').replace(/\//g, '_'))
  }
  return [...forms]
}

function find(where: string, bytes: Buffer, core: string, out: Leak[]) {
  for (const form of [core, ...base64Forms(core)]) {
    const i = bytes.indexOf(form)
    if (i >= 0) out.push({ where: form === core ? where : `${where} (base64)`, context: bytes.subarray(Math.max(0, i - 120), i + 80).toString('utf8').replace(/[^\x20-\x7e\n]/g, '.') })
  }
}

/** Where `core` appears: in a text (by its label) or in a file under one of `dirs` (by path). */
export async function leaksOf(core: string, texts: Record<string, string>, dirs: readonly string[]): Promise<Leak[]> {
  const out: Leak[] = []
  for (const [label, text] of Object.entries(texts)) find(label, Buffer.from(text), core, out)
  for (const dir of dirs) {
    for await (const f of files(dir)) {
      const bytes = await readFile(f)
      find(f, bytes, core, out)
      if (f.endsWith('.zip') || (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3)) find(`${f} (unzipped)`, await unzip(f), core, out)
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
        // Off the event loop: the hostile servers of tests running meanwhile live in this process.
        const inflated = await inflate(bytes).catch(() => undefined)
        if (inflated) find(`${f} (gunzipped)`, inflated, core, out)
      }
    }
  }
  return out
}

/** How many files a scan looked at, so a test can tell an empty folder from a clean one. */
export async function fileCount(dir: string): Promise<number> {
  let n = 0
  for await (const _ of files(dir)) n++
  return n
}
