import { RequestInvalid, type FrameOpDefinition, type Problem, type Tensor } from '@mlx/core'

/**
 * Text → one-hot characters for character-level models (a char-RNN over names, words, codes).
 * The same functions encode the training data (examples/names/train) and the requests, so a name
 * is seen by the served model exactly as it was seen in training.
 */

/** The PyTorch char-RNN tutorial's alphabet: ASCII letters and " .,;'" (57 characters). */
export const TUTORIAL_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'"

export interface CharEncoding {
  readonly alphabet: string
  /** Strip accents first (NFD, drop combining marks): "Béringer" → "Beringer", "Kamiński" → "Kaminski". */
  readonly stripAccents: boolean
}

/**
 * Normalises text the way the tutorial's unicodeToAscii did: NFD, combining marks removed, then
 * every character outside the alphabet dropped ("Au-Yong" → "AuYong", "Łukasz" → "ukasz"), and
 * surrounding whitespace trimmed (training lines were trimmed, so "  Smith " is "Smith").
 * Returns the kept text and the characters that were dropped.
 */
export function normalizeText(s: string, enc: CharEncoding): { text: string; dropped: string[] } {
  const src = enc.stripAccents ? s.normalize('NFD').replace(/\p{Mn}/gu, '') : s
  let text = ''
  const dropped: string[] = []
  for (const ch of src) {
    if (enc.alphabet.includes(ch)) text += ch
    else dropped.push(ch)
  }
  return { text: text.trim(), dropped }
}

/**
 * One-hot encodes texts (already normalised) into a float32 [N, T, A] tensor, T the longest text:
 * shorter texts are zero-padded at the end, so a model with a Masking layer (mask value 0) ignores
 * the padding and a batch gives the same answers as one text at a time.
 */
export function oneHot(texts: readonly string[], alphabet: string, length = Math.max(1, ...texts.map((t) => [...t].length))): Tensor {
  const a = alphabet.length
  const index = new Map([...alphabet].map((c, i) => [c, i]))
  const data = new Float32Array(texts.length * length * a)
  texts.forEach((t, r) => {
    let step = 0
    for (const ch of t) {
      if (step >= length) break
      const j = index.get(ch)
      if (j !== undefined) data[(r * length + step) * a + j] = 1
      step++
    }
  })
  return { dtype: 'float32', shape: [texts.length, length, a], data }
}

function alphabetParam(v: unknown): string {
  if (v === undefined || v === 'tutorial') return TUTORIAL_ALPHABET
  if (typeof v !== 'string' || v.length === 0) throw new Error("'alphabet' must be a non-empty string of characters (or 'tutorial')")
  const chars = [...v]
  if (new Set(chars).size !== chars.length) throw new Error("'alphabet' lists a character twice")
  return v
}

/**
 * `{op: char_onehot, column: name, to: <model input>, alphabet?: "...", strip_accents?: true,
 * unknown?: drop|reject, max_length?: 64}`: the string column becomes a [N, T, A] tensor named
 * like the model input. Characters outside the alphabet are dropped (as in training) or, with
 * `unknown: reject`, answered with a 422; a text with nothing left, or longer than max_length, is a 422.
 */
export const charOneHot: FrameOpDefinition = {
  usage: '{op: char_onehot, column: <string column>, to: <model input name>, alphabet?: "<characters>" | tutorial, strip_accents?: true, unknown?: drop | reject, max_length?: 64}',
  compile(p, columns) {
    const column = p.column
    if (typeof column !== 'string') throw new Error("'column' must name a string column")
    if (!columns.has(column)) throw new Error(`no column '${column}' at this point (columns: ${[...columns.keys()].join(', ')})`)
    if (columns.get(column)) throw new Error(`column '${column}' is not a string column`)
    const to = p.to
    if (typeof to !== 'string' || to.length === 0) throw new Error("'to' must name the model input that takes the one-hot tensor")
    const enc: CharEncoding = { alphabet: alphabetParam(p.alphabet), stripAccents: p.strip_accents !== false }
    const unknown = p.unknown ?? 'drop'
    if (unknown !== 'drop' && unknown !== 'reject') throw new Error("'unknown' must be drop or reject")
    const maxLength = p.max_length ?? 64
    if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1) throw new Error("'max_length' must be a positive integer")
    columns.set(to, true)
    const shown = enc.alphabet.length > 20 ? `${enc.alphabet.slice(0, 20)}…` : enc.alphabet

    return (frame, where) => {
      const src = frame.columns.get(column) as (string | null)[]
      const texts: string[] = new Array(frame.rows)
      const problems: Problem[] = []
      const loc = (i: number) => [where, column, ...(frame.rows > 1 ? [i] : [])]
      for (let i = 0; i < frame.rows; i++) {
        const raw = src[i] ?? ''
        const { text, dropped } = normalizeText(raw, enc)
        texts[i] = text
        if (unknown === 'reject' && dropped.length) {
          problems.push({
            type: 'value_error',
            loc: loc(i),
            msg: `Value error, characters ${[...new Set(dropped)].map((c) => JSON.stringify(c)).join(', ')} are not in the model's alphabet`,
            input: raw,
            ctx: { alphabet: enc.alphabet },
          })
        } else if (text.length === 0) {
          problems.push({
            type: 'value_error',
            loc: loc(i),
            msg: `Value error, no characters the model knows are left after normalisation (accents stripped, characters outside ${JSON.stringify(shown)} dropped, spaces trimmed)`,
            input: raw,
            ctx: { alphabet: enc.alphabet },
          })
        } else if ([...text].length > maxLength) {
          problems.push({ type: 'string_too_long', loc: loc(i), msg: `String should have at most ${maxLength} characters`, input: raw.length > 80 ? `${raw.slice(0, 80)}…` : raw, ctx: { max_length: maxLength } })
        }
      }
      if (problems.length) throw new RequestInvalid(problems)
      frame.columns.set(to, oneHot(texts, enc.alphabet))
    }
  },
}
