import type { Column, Frame } from '@mlx/core'
import { describe, expect, it } from 'vitest'
import { charOneHot, normalizeText, oneHot, TUTORIAL_ALPHABET } from './chars.js'

const enc = { alphabet: TUTORIAL_ALPHABET, stripAccents: true }
const frameOf = (names: (string | null)[]): Frame => ({ rows: names.length, columns: new Map<string, Column>([['name', names]]) })
const compile = (p: Record<string, unknown>) => charOneHot.compile({ column: 'name', to: 'chars', ...p }, new Map([['name', false], ['n', true]]))

describe('normalizeText', () => {
  it('strips accents and drops what is outside the alphabet, as the tutorial did', () => {
    expect(TUTORIAL_ALPHABET).toHaveLength(57)
    expect(normalizeText('Béringer', enc)).toEqual({ text: 'Beringer', dropped: [] })
    expect(normalizeText('Kamiński', enc).text).toBe('Kaminski')
    expect(normalizeText('Ślusarski', enc).text).toBe('Slusarski')
    expect(normalizeText('Au-Yong', enc)).toEqual({ text: 'AuYong', dropped: ['-'] })
    expect(normalizeText("O'Neal", enc).text).toBe("O'Neal")
    expect(normalizeText('Łukasz', enc)).toEqual({ text: 'ukasz', dropped: ['Ł'] })
    expect(normalizeText('山田', enc)).toEqual({ text: '', dropped: ['山', '田'] })
    expect(normalizeText('  Smith - ', enc)).toEqual({ text: 'Smith', dropped: ['-'] })
    expect(normalizeText(' \t ', enc).text).toBe('')
    expect(normalizeText('Béringer', { ...enc, stripAccents: false }).text).toBe('Bringer')
  })
})

describe('oneHot', () => {
  it('encodes [N, T, A] with zero padding at the end', () => {
    const t = oneHot(['ab', 'c'], 'abc')
    expect(t.shape).toEqual([2, 2, 3])
    expect(Array.from(t.data as Float32Array)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
  })
})

describe('char_onehot op', () => {
  it('sets the model input column to a float32 one-hot tensor', async () => {
    const columns = new Map([['name', false]])
    const op = charOneHot.compile({ column: 'name', to: 'chars' }, columns)
    expect(columns.get('chars')).toBe(true)
    const frame = frameOf(['Jordan', 'Né'])
    await op(frame, 'body')
    const t = frame.columns.get('chars') as { dtype: string; shape: number[]; data: Float32Array }
    expect(t.dtype).toBe('float32')
    expect(t.shape).toEqual([2, 6, 57])
    expect(t.data[TUTORIAL_ALPHABET.indexOf('J')]).toBe(1)
    // "Né" → "Ne": row 1, step 1 is 'e', steps 2.. are padding.
    expect(t.data[(1 * 6 + 1) * 57 + TUTORIAL_ALPHABET.indexOf('e')]).toBe(1)
    expect(t.data.subarray((1 * 6 + 2) * 57, 2 * 6 * 57).every((v) => v === 0)).toBe(true)
  })

  it('answers 422 naming the field when nothing is left, or with unknown: reject', async () => {
    const drop = compile({})
    await expect(async () => drop(frameOf(['---']), 'body')).rejects.toMatchObject({
      statusCode: 422,
      detail: [{ type: 'value_error', loc: ['body', 'name'], input: '---', msg: expect.stringContaining('no characters the model knows') }],
    })
    await expect(async () => drop(frameOf(['Smith', '123']), 'body')).rejects.toMatchObject({ detail: [{ loc: ['body', 'name', 1] }] })
    const reject = compile({ unknown: 'reject' })
    await expect(async () => reject(frameOf(['Au-Yong']), 'query')).rejects.toMatchObject({
      detail: [{ type: 'value_error', loc: ['query', 'name'], msg: expect.stringContaining('"-"') }],
    })
    expect(() => reject(frameOf(['Béringer']), 'body')).not.toThrow()
    const short = compile({ max_length: 4 })
    await expect(async () => short(frameOf(['Smithson']), 'body')).rejects.toMatchObject({ detail: [{ type: 'string_too_long', ctx: { max_length: 4 } }] })
  })

  it('checks its parameters when the endpoint compiles', () => {
    expect(() => compile({ column: 'nope' })).toThrow(/no column 'nope'/)
    expect(() => compile({ column: 'n' })).toThrow(/not a string column/)
    expect(() => compile({ to: undefined })).toThrow(/'to' must name the model input/)
    expect(() => compile({ alphabet: 'aab' })).toThrow(/twice/)
    expect(() => compile({ unknown: 'keep' })).toThrow(/drop or reject/)
    expect(() => compile({ max_length: 0 })).toThrow(/max_length/)
  })
})
