import type { FromSchema, JSONSchema as SchemaLiteral } from 'json-schema-to-ts'
import type { Artifact, Target } from '../contracts.js'

/**
 * The config type a target gets from its schema: properties with a `default` are present (core
 * fills them in before the target runs), the others optional unless `required`.
 */
export type ConfigOf<S> = S extends SchemaLiteral ? FromSchema<S> : Record<string, unknown>

/**
 * Writes a target with its config typed from its `as const` schema and its artifact details
 * typed from what `package` returns: `defineTarget({ name, configSchema, package, ... })`.
 */
export function defineTarget<const S extends SchemaLiteral, Details = Record<string, unknown>>(
  target: Omit<Target<ConfigOf<S>, Details>, 'configSchema'> & { readonly configSchema: S },
): Target<ConfigOf<S>, Details> {
  return target as Target<ConfigOf<S>, Details>
}

/** The artifact type of a target, for helpers that take one. */
export type ArtifactOf<T> = T extends Target<unknown, infer D> ? Artifact<D> : Artifact
