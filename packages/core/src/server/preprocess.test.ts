import { describe, expect, it } from 'vitest'
import type { FeatureSpec } from '../project.js'
import { compileFrameReader } from './frame.js'
import { compilePreprocess } from './preprocess.js'
import { parseTimestamp } from './timestamp.js'
import { RequestInvalid } from './problems.js'

const f = (name: string, type: FeatureSpec['type'], extra: Partial<FeatureSpec> = {}): FeatureSpec => ({ name, type, nullable: false, examples: [], ...extra })
const TAXI = [
  f('pickup_datetime', 'string', { format: 'date-time' }),
  f('pickup_longitude', 'number'),
  f('pickup_latitude', 'number'),
  f('dropoff_longitude', 'number'),
  f('dropoff_latitude', 'number'),
  f('passenger_count', 'integer'),
]

describe('parseTimestamp', () => {
  it('reads the taxi data format and ISO 8601, zone-less as UTC', () => {
    expect(parseTimestamp('2013-07-06 17:18:00 UTC')).toBe(Date.UTC(2013, 6, 6, 17, 18))
    expect(parseTimestamp('2013-07-06T17:18:00Z')).toBe(Date.UTC(2013, 6, 6, 17, 18))
    expect(parseTimestamp('2013-07-06 17:18:00')).toBe(Date.UTC(2013, 6, 6, 17, 18))
    expect(parseTimestamp('2013-07-06T19:18:00+02:00')).toBe(Date.UTC(2013, 6, 6, 17, 18))
    expect(parseTimestamp('yesterday')).toBeNaN()
    expect(parseTimestamp('2013-13-45 99:00:00')).toBeNaN()
  })
})

describe('preprocess ops', () => {
  const pre = compilePreprocess(
    [
      { op: 'haversine', from: ['pickup_latitude', 'pickup_longitude', 'dropoff_latitude', 'dropoff_longitude'], to: 'distance_km' },
      { op: 'datetime_parts', column: 'pickup_datetime', parts: { hour: 'hour', weekday: 'weekday' } },
      { op: 'stack', columns: ['distance_km', 'hour', 'weekday', 'passenger_count'] },
    ],
    TAXI,
    'endpoints.predict.preprocess',
  )
  const reader = compileFrameReader(TAXI, 100)

  it('derives distance, hour and weekday, and sets the stacking order', () => {
    const frame = reader.fromQuery({
      pickup_datetime: '2013-07-06 17:18:00 UTC',
      pickup_longitude: '-73.950655',
      pickup_latitude: '40.783282',
      dropoff_longitude: '-73.984365',
      dropoff_latitude: '40.769802',
      passenger_count: '1',
    })
    for (const op of pre.ops) op(frame, 'query')
    expect((frame.columns.get('distance_km') as Float64Array)[0]).toBeCloseTo(3.2, 1)
    expect((frame.columns.get('hour') as Float64Array)[0]).toBe(17)
    expect((frame.columns.get('weekday') as Float64Array)[0]).toBe(5) // a Saturday
    expect(pre.order).toEqual(['distance_km', 'hour', 'weekday', 'passenger_count'])
  })

  it('rejects a bad datetime at validation with a 422 naming the query field', () => {
    try {
      reader.fromQuery({ pickup_datetime: 'not a date', pickup_longitude: '1', pickup_latitude: '1', dropoff_longitude: '1', dropoff_latitude: '1', passenger_count: '1' })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(RequestInvalid)
      expect((err as RequestInvalid).detail[0]).toMatchObject({ loc: ['query', 'pickup_datetime'], type: 'datetime_from_date_parsing' })
    }
  })

  it('fails at compile time on unknown ops and columns, naming the step', () => {
    expect(() => compilePreprocess([{ op: 'nope' }], TAXI, 'endpoints.p.preprocess')).toThrow(/endpoints\.p\.preprocess\[0\]: unknown op 'nope'/)
    expect(() => compilePreprocess([{ op: 'clip', column: 'speed' }], TAXI, 'x')).toThrow(/no column 'speed'/)
    expect(() => compilePreprocess([{ op: 'log1p', column: 'pickup_datetime' }], TAXI, 'x')).toThrow(/not numeric/)
  })

  it('fills missing values and clips', () => {
    const fs = [f('age', 'number', { nullable: true }), f('deck', 'string', { nullable: true })]
    const p = compilePreprocess(
      [
        { op: 'fill_missing', values: { age: 30, deck: 'U' } },
        { op: 'clip', column: 'age', max: 65 },
      ],
      fs,
      'x',
    )
    const frame = compileFrameReader(fs, 10).fromColumns({ age: [null, 80, 5], deck: [null, 'C', null] })
    for (const op of p.ops) op(frame, 'body')
    expect(Array.from(frame.columns.get('age') as Float64Array)).toEqual([30, 65, 5])
    expect(frame.columns.get('deck')).toEqual(['U', 'C', 'U'])
  })
})
