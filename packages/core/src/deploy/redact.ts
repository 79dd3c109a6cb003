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
  /("?(?:authorization|x-api-key|api[-_]?key|project-access-token|password|token|client_secret|private_key|secret_access_key)"?\s*[:=]\s*"?)(?:(?:Bearer|Token|Basic)\s+)?[^\s",};&]{6,}/gi,
  // A password in a URL: scheme://user:password@host.
  /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:)[^\s/@]+@/gi,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
]

// Shorter secrets have too few base64 characters of their own: masking those would hit ordinary text.
const MIN_BASE64 = 12

/** The base64 characters that depend on `value`'s bytes alone, at each alignment, standard and URL-safe. */
function base64Forms(value: string): string[] {
  const forms: string[] = []
  for (let pad = 0; pad < 3; pad++) {
    const bytes = Buffer.concat([Buffer.alloc(pad), Buffer.from(value)])
    const own = bytes.toString('base64').slice(pad ? 4 : 0, 4 * Math.floor(bytes.length / 3))
    forms.push(own, own.replace(/\+/g, '-').replace(/\//g, '_'))
  }
  return forms
}

export class Redactor {
  private readonly secrets = new Set<string>()

  /** Registers a value that must never be shown; values shorter than 4 characters are ignored (they would mask ordinary text). */
  add(value: string | undefined | null): void {
    if (typeof value !== 'string' || value.length < 4) return
    // The forms a value takes on the wire and in what echoes it: URL-encoded in query strings and
    // forms, escaped inside JSON strings (a PEM key's newlines), and inside base64 (a Basic pair,
    // a docker config's auth), where it shows at one of three alignments whatever surrounds it.
    for (const form of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1), ...(value.length >= MIN_BASE64 ? base64Forms(value) : [])]) {
      if (form.length >= 4) this.secrets.add(form)
    }
  }

  redact(text: string): string {
    let out = text
    // Longest first, so a secret that contains another is masked whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join(MASK)
    out = out.replace(SHAPES[3]!, MASK)
    out = out.replace(SHAPES[2]!, (_m, userinfo: string) => `${userinfo}${MASK}@`)
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
