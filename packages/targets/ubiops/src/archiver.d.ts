// archiver 8 ships no type declarations (and @types/archiver describes the old default export):
// the part of its API this package uses.
declare module 'archiver' {
  import type { Transform } from 'node:stream'
  export interface EntryData {
    name: string
    date?: Date
    mode?: number
  }
  export class ZipArchive extends Transform {
    constructor(options?: { zlib?: { level?: number }; forceZip64?: boolean })
    file(path: string, data: EntryData): this
    append(source: Buffer | string | NodeJS.ReadableStream, data: EntryData): this
    finalize(): Promise<void>
    abort(): this
    pointer(): number
  }
}
