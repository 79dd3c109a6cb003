import { DEFAULT_AUTH, Redactor, type AuthSpec, type Project } from '@mlx/core'
import { describe, expect, it } from 'vitest'
import { checkApiKey, keyNote } from './api-key.js'

const project = (auth?: AuthSpec) => ({ name: 'm', manifestFile: '/p/mlx.yaml', server: { auth } }) as unknown as Project

describe('server.auth with the fly target', () => {
  it("the key is the app's secret: deploy says how to set it, in a line the redactor leaves whole", () => {
    expect(keyNote(project(), 'names')).toBeUndefined()
    const note = keyNote(project(DEFAULT_AUTH), 'names')!
    expect(note).toContain("openssl rand -hex 32 | sed 's/^/MLX_API_KEY=/' | fly secrets import -a names")
    expect(new Redactor().redact(note)).toBe(note)
  })

  it("refuses public without 'health': Fly's /readyz check sends no key", () => {
    expect(() => checkApiKey(project(DEFAULT_AUTH))).not.toThrow()
    expect(() => checkApiKey(project({ env: 'MLX_API_KEY', public: ['docs'] }))).toThrow(/server\.auth\.public leaves out 'health', but each Machine's Fly check \(GET \/readyz\)/)
  })
})
