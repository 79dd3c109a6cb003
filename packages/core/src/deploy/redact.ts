/**
 * One redaction for everything a deploy prints or records. Every secret the context hands out
 * (credentials, Authorization headers) is registered here, and every error, log line and record
 * passes through `redact` on its way out, so a platform that echoes request headers in an error
 * body cannot leak a token through mlx.
 */
const MASK = '***'

// Credentials written the way HTTP and config files spell them, in case a value was never registered.
const SHAPES: readonly RegExp[] = [
  /\b(Bearer|Token|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g,
  /("?(?:authorization|x-api-key|api[-_]?key|project-access-token|password|token)"?\s*[:=]\s*"?)(?:(?:Bearer|Token|Basic)\s+)?[^\s",}]{6,}/gi,
]

export class Redactor {
  private readonly secrets = new Set<string>()

  /** Registers a value that must never be shown; values shorter than 4 characters are ignored (they would mask ordinary text). */
  add(value: string | undefined | null): void {
    if (typeof value !== 'string' || value.length < 4) return
    this.secrets.add(value)
    // The forms a value takes on the wire: base64 in Basic auth, URL-encoded in query strings.
    this.secrets.add(encodeURIComponent(value))
  }

  redact(text: string): string {
    let out = text
    // Longest first, so a secret that contains another is masked whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join(MASK)
    out = out.replace(SHAPES[1]!, (_m, key: string) => `${key}${MASK}`)
    out = out.replace(SHAPES[0]!, (_m, scheme: string) => `${scheme} ${MASK}`)
    return out
  }

  /** A JSON-shaped value with every string redacted (for records and --json output). */
  redactValue<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T
    if (Array.isArray(value)) return value.map((v) => this.redactValue(v)) as T
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactValue(v)])) as T
    }
    return value
  }
}

/** The process's redactor: contexts, the CLI's error output and --json all mask through it. */
export const secrets = new Redactor()
