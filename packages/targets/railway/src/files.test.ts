import { describe, expect, it } from 'vitest'
import { renderProcfile, renderRailwayJson } from './files.js'

const base = { healthcheckPath: '/readyz', healthcheckTimeout: 300, restartPolicy: 'ON_FAILURE' as const, restartPolicyMaxRetries: 10 }

describe('railway.json and Procfile', () => {
  it('builds with the Dockerfile and starts the same command the Procfile names', () => {
    const doc = JSON.parse(renderRailwayJson(base))
    expect(doc.build).toEqual({ builder: 'DOCKERFILE', dockerfilePath: 'Dockerfile' })
    expect(doc.deploy).toEqual({ startCommand: 'node server.mjs', healthcheckPath: '/readyz', healthcheckTimeout: 300, restartPolicyType: 'ON_FAILURE', restartPolicyMaxRetries: 10 })
    expect(renderProcfile()).toBe(`web: ${doc.deploy.startCommand}\n`)
  })

  it('places replicas in a region when one is set, and drops max retries unless the policy is ON_FAILURE', () => {
    const doc = JSON.parse(renderRailwayJson({ ...base, restartPolicy: 'ALWAYS', region: 'europe-west4', replicas: 2 }))
    expect(doc.deploy.multiRegionConfig).toEqual({ 'europe-west4': { numReplicas: 2 } })
    expect(doc.deploy).not.toHaveProperty('restartPolicyMaxRetries')
    expect(doc.deploy).not.toHaveProperty('numReplicas')
    expect(JSON.parse(renderRailwayJson({ ...base, replicas: 3 })).deploy.numReplicas).toBe(3)
  })
})
