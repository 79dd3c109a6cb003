import { describe, expect, it } from 'vitest'
import type { HelmConfig } from './config.js'
import { chartValues } from './values.js'

// The fields chartValues reads, at their schema defaults.
const cfg = {
  replicas: 1,
  imagePullSecrets: [],
  podAnnotations: {},
  service: { type: 'ClusterIP', port: 80 },
  resources: {},
  startupTimeoutSeconds: 120,
  nodeSelector: {},
  tolerations: [],
  values: {},
} as unknown as HelmConfig
const input = { cfg, image: { repository: 'r', tag: 't' }, env: {}, containerPort: 8080, user: '1000:1000' }

describe("the pod's terminationGracePeriodSeconds", () => {
  it("outlasts the server's drain (server.shutdownGraceSeconds) and the second it takes to exit", () => {
    expect(chartValues(input).terminationGracePeriodSeconds).toBe(10)
    expect(chartValues({ ...input, shutdownGraceSeconds: 25 }).terminationGracePeriodSeconds).toBe(27)
  })
})
