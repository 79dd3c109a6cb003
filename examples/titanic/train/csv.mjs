// Tiny CSV reader for titanic.csv. The file has no quoting at all (checked
// below and enforced here), so a plain split on commas is exact; anything
// fancier would hide a changed input file instead of failing on it.

/** Column kinds; they decide both the JS value and the parquet type. */
export const COLUMN_TYPES = {
  survived: 'int', pclass: 'int', sex: 'string', age: 'float', sibsp: 'int', parch: 'int',
  fare: 'float', embarked: 'string', class: 'string', who: 'string', adult_male: 'bool',
  deck: 'string', embark_town: 'string', alive: 'string', alone: 'bool',
}

function convert(kind, raw, where) {
  if (raw === '') return null // missing value
  switch (kind) {
    case 'int': {
      const v = Number(raw)
      if (!Number.isInteger(v)) throw new Error(`${where}: not an integer: ${raw}`)
      return v
    }
    case 'float': {
      const v = Number(raw)
      if (!Number.isFinite(v)) throw new Error(`${where}: not a number: ${raw}`)
      return v
    }
    case 'bool':
      if (raw !== 'True' && raw !== 'False') throw new Error(`${where}: not True/False: ${raw}`)
      return raw === 'True'
    default:
      return raw
  }
}

/** Parse titanic.csv text into { header, rows } with typed values, null for missing. */
export function parseTitanicCsv(text) {
  if (text.includes('"')) throw new Error('titanic.csv contains quotes; this reader only handles unquoted CSV')
  const lines = text.split(/\r?\n/)
  while (lines.length && lines[lines.length - 1] === '') lines.pop()
  const header = lines[0].split(',')
  const expected = Object.keys(COLUMN_TYPES)
  if (header.join(',') !== expected.join(',')) throw new Error(`unexpected header: ${lines[0]}`)
  const rows = lines.slice(1).map((line, i) => {
    const fields = line.split(',')
    if (fields.length !== header.length) throw new Error(`line ${i + 2}: ${fields.length} fields, want ${header.length}`)
    const row = {}
    header.forEach((name, j) => { row[name] = convert(COLUMN_TYPES[name], fields[j], `line ${i + 2} ${name}`) })
    return row
  })
  return { header, rows }
}
