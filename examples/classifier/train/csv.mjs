// Reading the OpenML titanic3 CSV the course trained on. Unlike seaborn's copy,
// this file quotes fields that hold commas ("Allen, Miss. Elisabeth Walton"),
// so it needs a real (if small) RFC 4180 reader.

/** Splits CSV text into rows of raw string fields; quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text) {
  const rows = []
  let row = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c !== '"') field += c
      else if (text[i + 1] === '"') {
        field += '"'
        i++
      } else quoted = false
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      row.push(field)
      rows.push(row)
      row = []
      field = ''
    } else field += c
  }
  if (quoted) throw new Error('CSV ends inside a quoted field')
  if (field !== '' || row.length) {
    row.push(field)
    rows.push(row)
  }
  return rows
}

/** Quotes a field only when it needs it, as pandas' to_csv does. */
const csvField = (v) => {
  const s = v === null || v === undefined ? '' : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}
export const toCsv = (header, rows) =>
  [header, ...rows.map((r) => header.map((h) => r[h]))].map((r) => r.map(csvField).join(',')).join('\n') + '\n'

/** The raw columns, in file order, and how each is typed once '?' (missing) is read as null. */
export const RAW_COLUMNS = {
  pclass: 'int', survived: 'int', name: 'string', sex: 'string', age: 'float', sibsp: 'int', parch: 'int',
  ticket: 'string', fare: 'float', cabin: 'string', embarked: 'string', boat: 'string', body: 'string', 'home.dest': 'string',
}

/**
 * The course's raw.csv (OpenML "titanic3"): a leading unnamed pandas index column, '?' for missing.
 * Returns typed row objects without the index column; missing values are null.
 * `hasIndex: false` reads files written by toCsv (same columns, no index).
 * @returns {Record<string, string | number | null>[]}
 */
export function readTitanicRaw(text, { hasIndex = true } = {}) {
  const [header, ...lines] = parseCsv(text)
  const names = hasIndex ? header.slice(1) : header
  if (hasIndex && header[0] !== '') throw new Error(`expected an unnamed index column first, got '${header[0]}'`)
  if (names.join(',') !== Object.keys(RAW_COLUMNS).join(',')) throw new Error(`unexpected header: ${header.join(',')}`)
  return lines.map((fields, i) => {
    const values = hasIndex ? fields.slice(1) : fields
    if (values.length !== names.length) throw new Error(`line ${i + 2}: ${values.length} fields, want ${names.length}`)
    const row = {}
    names.forEach((name, j) => {
      const raw = values[j]
      const kind = RAW_COLUMNS[name]
      if (raw === '?' || raw === '') row[name] = null
      else if (kind === 'string') row[name] = raw
      else {
        const v = Number(raw)
        if (!Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v))) throw new Error(`line ${i + 2} ${name}: not a ${kind}: ${raw}`)
        row[name] = v
      }
    })
    return row
  })
}
