import { isMap, isSeq, isPair, isScalar, LineCounter, type Document, type Node } from 'yaml'

/** Maps a JSON pointer in the parsed manifest back to "file:line:col" so errors point at the source. */
export class SourceLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    readonly file: string,
  ) {}

  /** Location of the value at `path`; with `key`, of the key itself (for unknown keys). */
  locate(path: readonly (string | number)[], key = false): string {
    let node: unknown = this.doc.contents
    let keyNode: unknown
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg))
        if (!pair) break
        keyNode = pair.key
        node = pair.value
      } else if (isSeq(node)) {
        keyNode = undefined
        node = node.items[Number(seg)]
      } else break
    }
    const target = (key && keyNode ? keyNode : node) as Node | undefined
    const offset = target?.range?.[0]
    if (offset === undefined) return this.file
    const { line, col } = this.lines.linePos(offset)
    return `${this.file}:${line}:${col}`
  }
}

export function pointerToPath(pointer: string): string[] {
  if (!pointer) return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** "endpoints.predict.model" — how users think of a key, and how errors name it. */
export function dotted(path: readonly (string | number)[]): string {
  return path.map((s, i) => (typeof s === 'number' || /^\d+$/.test(String(s)) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('') || '(top level)'
}
