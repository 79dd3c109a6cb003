/**
 * A reproducible tar writer and gzip framing for image layers: the same files give the same bytes,
 * so the same digest. Entries are sorted by path with every parent directory present, times are
 * fixed, owners are numeric with empty names, modes come from a rule instead of the disk, and the
 * gzip header carries no file name, no time and a fixed OS byte.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'

export interface TarEntry {
  /** Relative, '/'-separated, no leading or trailing slash: `app/node_modules/x/index.js`. */
  readonly path: string
  readonly type: 'file' | 'dir' | 'symlink'
  readonly mode: number
  readonly uid?: number
  readonly gid?: number
  /** For files: the byte count, and either a file on disk to stream or the bytes themselves. */
  readonly size?: number
  readonly source?: string | Buffer
  readonly linkname?: string
}

export interface TarOptions {
  /** Seconds since the epoch written as every entry's mtime (0, or SOURCE_DATE_EPOCH). */
  readonly mtime?: number
}

const BLOCK = 512
const SMALL_FILE = 4 << 20
const ZERO = Buffer.alloc(BLOCK)

/** Byte order, so the result does not depend on the locale. */
export const comparePaths = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * Sorts entries and adds the parent directories that are missing (root-owned, `dirMode`), so an
 * extractor never invents a directory with its own idea of owner and mode.
 */
export function withParents(entries: readonly TarEntry[], dirMode = 0o755): TarEntry[] {
  const byPath = new Map<string, TarEntry>()
  for (const e of entries) {
    if (!e.path || e.path.startsWith('/') || e.path.endsWith('/') || e.path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new Error(`tar entry path must be relative and normalized: ${JSON.stringify(e.path)}`)
    }
    if (byPath.has(e.path)) throw new Error(`duplicate tar entry: ${e.path}`)
    byPath.set(e.path, e)
  }
  for (const e of entries) {
    const parts = e.path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'dir', mode: dirMode })
    }
  }
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path))
}

function octal(buf: Buffer, offset: number, len: number, value: number): void {
  const s = Math.trunc(value).toString(8).padStart(len - 1, '0')
  if (s.length > len - 1) throw new Error(`tar field overflow: ${value}`)
  buf.write(s + '\0', offset, len, 'ascii')
}

function paxRecords(fields: Record<string, string>): Buffer {
  let out = ''
  for (const [k, v] of Object.entries(fields)) {
    const body = ` ${k}=${v}\n`
    const bodyLen = Buffer.byteLength(body)
    const digits = String(bodyLen).length
    let len = bodyLen + digits
    if (String(len).length > digits) len = bodyLen + String(len).length
    out += `${len}${body}`
  }
  return Buffer.from(out, 'utf8')
}

/** Splits a path over ustar's prefix (155) and name (100) fields, or says it cannot. */
function splitName(full: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(full) <= 100) return { name: full, prefix: '' }
  for (let i = full.length - 1; i > 0; i--) {
    if (full[i] !== '/' || i === full.length - 1) continue
    const prefix = full.slice(0, i)
    const name = full.slice(i + 1)
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix }
  }
  return undefined
}

interface HeaderFields {
  name: string
  prefix: string
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  typeflag: string
  linkname: string
}

function header(f: HeaderFields): Buffer {
  const h = Buffer.alloc(BLOCK)
  h.write(f.name, 0, 100, 'utf8')
  octal(h, 100, 8, f.mode)
  octal(h, 108, 8, f.uid)
  octal(h, 116, 8, f.gid)
  octal(h, 124, 12, f.size)
  octal(h, 136, 12, f.mtime)
  h.write('        ', 148, 8, 'ascii')
  h.write(f.typeflag, 156, 1, 'ascii')
  h.write(f.linkname, 157, 100, 'utf8')
  h.write('ustar\0', 257, 6, 'ascii')
  h.write('00', 263, 2, 'ascii')
  // uname/gname (265, 297) stay empty: owners are numeric. devmajor/devminor as zeros.
  octal(h, 329, 8, 0)
  octal(h, 337, 8, 0)
  h.write(f.prefix, 345, 155, 'utf8')
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii')
  return h
}

const MAX_OCTAL_SIZE = 0o77777777777

/** The header block(s) of one entry: a PAX header first when ustar cannot hold the path or size. */
export function entryHeader(e: TarEntry, opts: TarOptions = {}): Buffer {
  const mtime = opts.mtime ?? 0
  const full = e.type === 'dir' ? `${e.path}/` : e.path
  const size = e.type === 'file' ? (e.size ?? (Buffer.isBuffer(e.source) ? e.source.length : 0)) : 0
  const linkname = e.linkname ?? ''
  const pax: Record<string, string> = {}
  let split = splitName(full)
  if (!split) {
    pax.path = full
    split = { name: full.slice(0, 99).replace(/\/$/, '') + (e.type === 'dir' ? '/' : ''), prefix: '' }
    split.name = Buffer.from(split.name).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, '')
  }
  if (Buffer.byteLength(linkname) > 100) pax.linkpath = linkname
  if (size > MAX_OCTAL_SIZE) pax.size = String(size)
  const uid = e.uid ?? 0
  const gid = e.gid ?? 0
  const main = header({
    name: split.name,
    prefix: split.prefix,
    mode: e.mode & 0o7777,
    uid,
    gid,
    size: size > MAX_OCTAL_SIZE ? 0 : size,
    mtime,
    typeflag: e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2',
    linkname: pax.linkpath ? linkname.slice(0, 100) : linkname,
  })
  if (!Object.keys(pax).length) return main
  const records = paxRecords(pax)
  const base = e.path.slice(e.path.lastIndexOf('/') + 1).slice(0, 80)
  const paxHeader = header({ name: `PaxHeaders/${base}`, prefix: '', mode: 0o644, uid, gid, size: records.length, mtime, typeflag: 'x', linkname: '' })
  return Buffer.concat([paxHeader, records, padding(records.length), main])
}

const padding = (n: number) => ZERO.subarray(0, (BLOCK - (n % BLOCK)) % BLOCK)

/** The archive as a stream of chunks, in the order given (sort with withParents first). */
export async function* tarChunks(entries: readonly TarEntry[], opts: TarOptions = {}): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield entryHeader(e, opts)
    if (e.type !== 'file') continue
    const size = e.size ?? (Buffer.isBuffer(e.source) ? e.source.length : 0)
    if (Buffer.isBuffer(e.source)) {
      if (e.source.length !== size) throw new Error(`${e.path}: ${e.source.length} bytes given for a ${size}-byte entry`)
      yield e.source
    } else if (typeof e.source === 'string' && size <= SMALL_FILE) {
      // One read for the many small files of a node_modules: far cheaper than a stream each.
      const bytes = await readFile(e.source)
      if (bytes.length !== size) throw new Error(`${e.source} changed size while the layer was written (${bytes.length} of ${size} bytes)`)
      yield bytes
    } else if (typeof e.source === 'string') {
      let read = 0
      for await (const chunk of createReadStream(e.source, { highWaterMark: 1 << 20 })) {
        read += (chunk as Buffer).length
        if (read > size) throw new Error(`${e.source} grew while the layer was written`)
        yield chunk as Buffer
      }
      if (read !== size) throw new Error(`${e.source} shrank while the layer was written (${read} of ${size} bytes)`)
    } else if (size !== 0) throw new Error(`${e.path}: no content for a ${size}-byte file`)
    const pad = padding(size)
    if (pad.length) yield pad
  }
  yield ZERO
  yield ZERO
}

// ---- gzip --------------------------------------------------------------------------------------

let CRC_TABLE: Uint32Array | undefined
const nativeCrc32 = (zlib as unknown as { crc32?: (d: Buffer, v?: number) => number }).crc32

/** CRC-32 (IEEE), as gzip's trailer wants it. zlib.crc32 where Node has it (20.15+), else a table. */
export function crc32(data: Buffer, prev = 0): number {
  return nativeCrc32 ? nativeCrc32(data, prev) : crc32Table(data, prev)
}

/** The table-driven CRC-32 for Node versions without zlib.crc32. */
export function crc32Table(data: Buffer, prev = 0): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      CRC_TABLE[n] = c >>> 0
    }
  }
  let c = (prev ^ 0xffffffff) >>> 0
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/**
 * Fixed gzip header: deflate, no flags, MTIME 0, XFL 0, OS 255 ("unknown", as Go's gzip writes):
 * zlib's own header would put the build machine's OS code in byte 9 (3 on Linux, 19 on macOS).
 */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff])
/** Part of the image's identity: changing it changes every layer digest. */
export const GZIP_LEVEL = 6

export interface LayerDigests {
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  readonly diffId: string
  /** sha256 of the gzip blob: the manifest's layer digest and the blob's name. */
  readonly digest: string
  readonly size: number
  readonly uncompressedSize: number
}

/** Writes `entries` as a gzipped tar to `file`, hashing both sides on the way. */
export async function writeTarGz(entries: readonly TarEntry[], file: string, opts: TarOptions = {}): Promise<LayerDigests> {
  const tarHash = createHash('sha256')
  const gzHash = createHash('sha256')
  let crc = 0
  let tarSize = 0
  let gzSize = 0
  const tapTar = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tarHash.update(chunk)
      crc = crc32(chunk, crc)
      tarSize += chunk.length
      cb(null, chunk)
    },
  })
  let started = false
  const frame = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (!started) {
        started = true
        this.push(GZIP_HEADER)
      }
      cb(null, chunk)
    },
    flush(cb) {
      if (!started) this.push(GZIP_HEADER)
      const trailer = Buffer.alloc(8)
      trailer.writeUInt32LE(crc >>> 0, 0)
      trailer.writeUInt32LE(tarSize % 2 ** 32, 4)
      cb(null, trailer)
    },
  })
  const tapGz = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      gzHash.update(chunk)
      gzSize += chunk.length
      cb(null, chunk)
    },
  })
  await pipeline(tarChunks(entries, opts), tapTar, zlib.createDeflateRaw({ level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: zlib.constants.Z_DEFAULT_STRATEGY }), frame, tapGz, createWriteStream(file))
  return { diffId: `sha256:${tarHash.digest('hex')}`, digest: `sha256:${gzHash.digest('hex')}`, size: gzSize, uncompressedSize: tarSize }
}
