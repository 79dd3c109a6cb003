/**
 * The settings every target that talks to an API shares, as JSON Schema properties to spread
 * into its configSchema: `properties: { ...retrySettings, … }`. The context's HTTP client and
 * retry loop read them from the target's config, so each target documents and validates them the
 * same way.
 */
export const retrySettings = {
  retries: { type: 'integer', minimum: 0, maximum: 10, default: 4, description: 'Retries per API call on 429, 5xx, timeouts and dropped connections (POSTs only on 429), with exponential backoff.' },
  retryBaseMs: { type: 'integer', minimum: 0, default: 1000, description: 'First retry delay in milliseconds; it doubles per retry (Retry-After wins when the API sends one, up to 60 s).' },
  requestTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 30, description: 'How long one API call may take (connect, headers and body) before it is retried or fails.' },
} as const

export interface RetrySettings {
  readonly retries?: number
  readonly retryBaseMs?: number
  readonly requestTimeoutSeconds?: number
}
