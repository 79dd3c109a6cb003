import { Ajv } from 'ajv'
import type { Target } from './contracts.js'
import { MlxError } from './errors.js'
import type { Project } from './project.js'

/** Checks targets.<name> against the target's own schema; defaults are filled in. */
export function targetConfig<C = Record<string, unknown>>(target: Pick<Target<C>, 'name' | 'configSchema'>, project: Project): C {
  const raw = structuredClone(project.targets[target.name] ?? {})
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false })
  const validate = ajv.compile(target.configSchema)
  if (!validate(raw)) {
    const lines = (validate.errors ?? []).map((e) => {
      const key = ['targets', target.name, ...e.instancePath.split('/').slice(1)].join('.')
      if (e.keyword === 'additionalProperties') return `${key}.${String(e.params.additionalProperty)}: unknown key`
      if (e.keyword === 'required') return `${key}: missing required key '${String(e.params.missingProperty)}'`
      return `${key}: ${e.message}`
    })
    throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: the ${target.name} target's settings are invalid:\n  - ${lines.join('\n  - ')}`, {
      hint: `\`mlx targets\` shows the schema of targets.${target.name}.`,
      file: project.manifestFile,
    })
  }
  return raw as C
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** A ready-to-paste curl per endpoint, using the docs example from the reference data. */
export function curlExamples(project: Project, baseUrl: string): string[] {
  const base = baseUrl.replace(/\/$/, '')
  return project.endpoints.map((ep) => {
    if (ep.method === 'GET') {
      const row = ep.input.example?.rows?.[0] ?? (ep.input.example?.body as Record<string, unknown> | undefined)
      const given = Object.entries(row ?? {}).filter(([, v]) => v !== null && v !== undefined)
      const qs = given.length && ep.input.style === 'query' ? '?' + new URLSearchParams(Object.fromEntries(given.map(([k, v]) => [k, String(v)]))).toString() : ''
      return `curl ${shellQuote(`${base}${ep.path}${qs}`)}`
    }
    const files = ep.input.features?.filter((f) => f.type === 'file') ?? []
    if (files.length) {
      // A file is easiest sent as multipart; the base64 example would fill a terminal.
      const others = (ep.input.features ?? []).filter((f) => f.type !== 'file' && f.examples.length)
      const parts = [...files.map((f) => `-F ${shellQuote(`${f.name}=@${f.name}.jpg`)}`), ...others.map((f) => `-F ${shellQuote(`${f.name}=${String(f.examples[0])}`)}`)]
      return `curl -X ${ep.method} ${shellQuote(`${base}${ep.path}`)} ${parts.join(' ')}`
    }
    const ex = ep.input.example
    const body = ex?.body ?? (ep.input.style === 'rows' ? ex?.rows : (ex?.columns ?? ex?.rows)) ?? {}
    return `curl -X ${ep.method} ${shellQuote(`${base}${ep.path}`)} -H 'Content-Type: application/json' -d ${shellQuote(JSON.stringify(body))}`
  })
}
