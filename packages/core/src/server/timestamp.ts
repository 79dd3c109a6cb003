/**
 * Timestamps as clients send them: ISO 8601, or "2013-07-06 17:18:00 UTC" as in the NYC taxi
 * data. A zone-less timestamp is taken as UTC so results do not depend on the server's zone.
 */
export function parseTimestamp(s: string): number {
  const t = s.trim().replace(/\s+UTC$/i, 'Z').replace(/^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)/, '$1T$2')
  const zoned = /([zZ]|[+-]\d{2}:?\d{2})$/.test(t) || !/T/.test(t) ? t : `${t}Z`
  if (!/^\d{4}-\d{2}-\d{2}/.test(zoned)) return NaN
  return Date.parse(zoned)
}
