import { curlExamples, type Logger, type Project } from '@mlx/core'
import type { Values } from './values.js'

interface AccessValues {
  service: { port: number }
  ingress: { enabled: boolean; tls: unknown[]; hosts: { host: string; paths: { path: string }[] }[] }
}

/** The ingress URL, when the chart has an Ingress. */
export function accessUrl(values: Values): string | undefined {
  const ing = values.ingress as AccessValues['ingress']
  if (!ing.enabled || !ing.hosts[0]) return undefined
  const h = ing.hosts[0]
  return `${ing.tls.length ? 'https' : 'http'}://${h.host}${(h.paths[0]?.path ?? '/').replace(/\/$/, '')}`
}

/** How to reach the service from this machine, as log lines (the CLI prints curls only for http URLs). */
export function printAccess(log: Logger, project: Project, values: Values, fullname: string, namespace: string, url: string | undefined) {
  const port = (values.service as AccessValues['service']).port
  if (url) {
    log.info(`  reach it at ${url} (once DNS for the ingress host points at the ingress controller)`)
    return
  }
  log.info(`  reach it from this machine:`)
  log.info(`    kubectl port-forward svc/${fullname} 8080:${port} -n ${namespace}`)
  log.info(`  then, in another terminal:`)
  for (const c of curlExamples(project, 'http://127.0.0.1:8080')) log.info(`    ${c}`)
  log.info(`    open http://127.0.0.1:8080/docs`)
}
