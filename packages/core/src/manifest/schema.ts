import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { JSONSchema } from '../types.js'

/** The published JSON Schema file is the single source of truth for mlx.yaml's shape. */
export const MANIFEST_SCHEMA_PATH = fileURLToPath(new URL('../../schema/mlx.schema.json', import.meta.url))

let cached: JSONSchema | undefined
export function manifestSchema(): JSONSchema {
  cached ??= JSON.parse(readFileSync(MANIFEST_SCHEMA_PATH, 'utf8')) as JSONSchema
  return cached
}
