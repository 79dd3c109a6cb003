// Reading, cleaning and featurising the NYC taxi rows. The features are computed exactly as
// the served endpoint computes them with core's preprocess ops (haversine, datetime_parts), so
// the model sees the same numbers in training and behind GET /predict.

export const COLUMNS = ['key', 'fare_amount', 'pickup_datetime', 'pickup_longitude', 'pickup_latitude', 'dropoff_longitude', 'dropoff_latitude', 'passenger_count']

/** train_10k.csv has no quoting (checked here), so splitting on commas is exact. */
export function readTaxiCsv(text) {
  if (text.includes('"')) throw new Error('unexpected quotes in the taxi CSV')
  const lines = text.split(/\r?\n/).filter((l) => l !== '')
  if (lines[0] !== COLUMNS.join(',')) throw new Error(`unexpected header: ${lines[0]}`)
  return lines.slice(1).map((line, i) => {
    const f = line.split(',')
    if (f.length !== COLUMNS.length) throw new Error(`line ${i + 2}: ${f.length} fields`)
    const row = { key: f[0], pickup_datetime: f[2] }
    for (const [j, c] of COLUMNS.entries()) {
      if (j === 0 || j === 2) continue
      const v = Number(f[j])
      if (f[j] === '' || !Number.isFinite(v)) throw new Error(`line ${i + 2} ${c}: not a number: ${f[j]}`)
      row[c] = v
    }
    return row
  })
}

/** NYC and its airports (JFK, LaGuardia, Newark) with room to spare; zeros and swapped lat/lon fall outside. */
export const NYC = { minLon: -74.3, maxLon: -72.9, minLat: 40.5, maxLat: 41.8 }
const inNyc = (lon, lat) => lon >= NYC.minLon && lon <= NYC.maxLon && lat >= NYC.minLat && lat <= NYC.maxLat

/** The cleaning rules, in order; a row is dropped by the first rule it breaks. */
export const RULES = [
  { name: 'fare_amount below the $2.50 flag drop (includes zero and negative fares)', drop: (r) => r.fare_amount < 2.5 },
  { name: 'fare_amount above $200', drop: (r) => r.fare_amount > 200 },
  { name: 'pickup or dropoff outside the NYC box (includes 0,0 coordinates)', drop: (r) => !inNyc(r.pickup_longitude, r.pickup_latitude) || !inNyc(r.dropoff_longitude, r.dropoff_latitude) },
  { name: 'passenger_count outside 1..8', drop: (r) => !(Number.isInteger(r.passenger_count) && r.passenger_count >= 1 && r.passenger_count <= 8) },
  { name: 'pickup and dropoff at the same point (no trip recorded)', drop: (r) => r.pickup_longitude === r.dropoff_longitude && r.pickup_latitude === r.dropoff_latitude },
]

export function clean(rows) {
  const dropped = RULES.map((rule) => ({ rule: rule.name, rows: 0 }))
  const kept = rows.filter((r) => {
    const i = RULES.findIndex((rule) => rule.drop(r))
    if (i >= 0) dropped[i].rows++
    return i < 0
  })
  return { kept, dropped }
}

/** Same arithmetic as core's `haversine` op (mean Earth radius 6371.0088 km). */
export function haversineKm(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180
  const dLat = (lat2 - lat1) * rad
  const dLon = (lon2 - lon1) * rad
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)))
}

/** "2013-07-06 17:18:00 UTC" -> epoch ms (the data is in UTC, as core reads it). */
export function parseUtc(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC$/.exec(s)
  if (!m) throw new Error(`unexpected datetime: ${s}`)
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
}

/**
 * The model's input columns, in the order of the `stack` op in mlx.yaml. Names are the
 * endpoint's: the seed's query parameters (lon1, lat1, lon2, lat2, passcount) and the
 * columns core's ops derive (distance_km, hour, weekday with Monday = 0, month, year; UTC).
 */
export const FEATURES = ['distance_km', 'hour', 'weekday', 'month', 'year', 'passcount', 'lon1', 'lat1', 'lon2', 'lat2']

export function featurise(r) {
  const d = new Date(parseUtc(r.pickup_datetime))
  const v = {
    distance_km: haversineKm(r.pickup_latitude, r.pickup_longitude, r.dropoff_latitude, r.dropoff_longitude),
    hour: d.getUTCHours(),
    weekday: (d.getUTCDay() + 6) % 7,
    month: d.getUTCMonth() + 1,
    year: d.getUTCFullYear(),
    passcount: r.passenger_count,
    lon1: r.pickup_longitude,
    lat1: r.pickup_latitude,
    lon2: r.dropoff_longitude,
    lat2: r.dropoff_latitude,
  }
  // float32, as the server feeds the model.
  return FEATURES.map((f) => Math.fround(v[f]))
}

/** The seed's query parameters for a data row. */
export const queryOf = (r) => ({
  pickup_datetime: r.pickup_datetime,
  lon1: r.pickup_longitude,
  lat1: r.pickup_latitude,
  lon2: r.dropoff_longitude,
  lat2: r.dropoff_latitude,
  passcount: r.passenger_count,
})
