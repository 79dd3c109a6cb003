/**
 * Reading an op's manifest parameters. Every check names the parameter, so a wrong manifest
 * fails at startup with a message that says which key to fix; core adds the op's index and usage.
 */
export type Params = Readonly<Record<string, unknown>>

/** Refuses keys the op does not know: a typo (`hieght`) must not silently fall back to a default. */
export function onlyKnown(p: Params, known: readonly string[]): void {
  const unknown = Object.keys(p).filter((k) => !known.includes(k))
  if (unknown.length) {
    throw new Error(`unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`)
  }
}

export function str(p: Params, key: string, fallback?: string): string {
  const v = p[key] ?? fallback
  if (typeof v !== 'string' || v.length === 0) throw new Error(`'${key}' must be a ${fallback === undefined ? 'non-empty string (required)' : 'non-empty string'}`)
  return v
}

export function oneOf<T extends string>(p: Params, key: string, values: readonly T[], fallback: T, aliases: Record<string, T> = {}): T {
  const v = p[key]
  if (v === undefined) return fallback
  if (typeof v === 'string') {
    const s = v.toLowerCase()
    if ((values as readonly string[]).includes(s)) return s as T
    if (aliases[s]) return aliases[s]!
  }
  throw new Error(`'${key}' must be one of ${values.join(', ')} (got ${JSON.stringify(v)})`)
}

export function bool(p: Params, key: string, fallback: boolean): boolean {
  const v = p[key]
  if (v === undefined) return fallback
  if (typeof v !== 'boolean') throw new Error(`'${key}' must be true or false (got ${JSON.stringify(v)})`)
  return v
}

/** A number; YAML has no expressions, so a fraction such as "1/255" is accepted as text. */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v
  if (typeof v === 'string') {
    const m = /^\s*(-?[\d.]+(?:e-?\d+)?)\s*(?:\/\s*([\d.]+(?:e-?\d+)?))?\s*$/i.exec(v)
    if (m) return m[2] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[2])
  }
  return NaN
}

export function num(p: Params, key: string, fallback: number | undefined, check: { min?: number; max?: number; integer?: boolean; above?: number } = {}): number {
  const raw = p[key]
  if (raw === undefined) {
    if (fallback === undefined) throw new Error(`'${key}' is required`)
    return fallback
  }
  const v = toNumber(raw)
  const kind = check.integer ? 'an integer' : 'a number'
  if (!Number.isFinite(v) || (check.integer && !Number.isInteger(v))) throw new Error(`'${key}' must be ${kind} (got ${JSON.stringify(raw)})`)
  if (check.min !== undefined && v < check.min) throw new Error(`'${key}' must be at least ${check.min} (got ${v})`)
  if (check.above !== undefined && v <= check.above) throw new Error(`'${key}' must be more than ${check.above} (got ${v})`)
  if (check.max !== undefined && v > check.max) throw new Error(`'${key}' must be at most ${check.max} (got ${v})`)
  return v
}

/**
 * A per-channel value: one number for every channel, or one per channel (in the tensor's channel
 * order). Returns exactly `channels` numbers.
 */
export function perChannel(p: Params, key: string, channels: number, fallback: number, check: { nonZero?: boolean; min?: number; max?: number } = {}): number[] {
  const raw = p[key]
  if (raw === undefined) return new Array<number>(channels).fill(fallback)
  const list = Array.isArray(raw) ? raw : [raw]
  if (list.length !== 1 && list.length !== channels) {
    throw new Error(`'${key}' must be one number or ${channels} (one per channel), got ${list.length}`)
  }
  const values = list.map((x) => {
    const v = toNumber(x)
    if (!Number.isFinite(v)) throw new Error(`'${key}' must hold numbers (got ${JSON.stringify(x)})`)
    if (check.nonZero && v === 0) throw new Error(`'${key}' must not be 0 (it divides)`)
    if (check.min !== undefined && v < check.min) throw new Error(`'${key}' values must be at least ${check.min} (got ${v})`)
    if (check.max !== undefined && v > check.max) throw new Error(`'${key}' values must be at most ${check.max} (got ${v})`)
    return v
  })
  return values.length === 1 ? new Array<number>(channels).fill(values[0]!) : values
}
