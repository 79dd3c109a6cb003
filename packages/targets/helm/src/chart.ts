import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Project } from '@mlx/core'
import { Document, stringify, type Scalar } from 'yaml'
import type { ChartMeta } from './render.js'
import * as t from './templates.js'
import type { Values } from './values.js'

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/

export function chartMeta(project: Project): ChartMeta {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(project.name)) {
    throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: name '${project.name}' cannot name a Helm chart and its Kubernetes objects.`, {
      hint: 'use lowercase letters, digits and dashes (a DNS label), e.g. `name: my-model`.',
    })
  }
  if (!SEMVER.test(project.version)) {
    throw new MlxError('TARGET_CONFIG_INVALID', `${project.manifestFile}: version '${project.version}' is not SemVer, which Chart.yaml requires.`, { hint: 'use MAJOR.MINOR.PATCH, e.g. `version: 1.2.0`.' })
  }
  return { name: project.name, version: project.version, appVersion: project.version }
}

function chartYaml(project: Project, chart: ChartMeta): string {
  const doc: Record<string, unknown> = {
    apiVersion: 'v2',
    name: chart.name,
    description: (project.description ?? `${chart.name} model server`).trim().replace(/\s+/g, ' '),
    type: 'application',
    version: chart.version,
    appVersion: chart.appVersion,
    // autoscaling/v2 is GA from 1.23
    kubeVersion: '>=1.23.0-0',
    keywords: ['mlx', 'model-serving', 'inference'],
    annotations: { 'dev.mlx/generated': 'true' },
  }
  const yaml = new Document(doc)
  // Quoted, as helm asks: an unquoted 1.10 would be read as the number 1.1.
  ;(yaml.get('appVersion', true) as Scalar).type = 'QUOTE_DOUBLE'
  return `# Written by \`mlx package --target helm\` from ${path.basename(project.manifestFile)}; edit that, not this.\n${yaml.toString({ lineWidth: 0 })}`
}

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties, ...extra })
const str = { type: 'string' }
const int = (minimum = 0) => ({ type: 'integer', minimum })
const map = { type: 'object', additionalProperties: { type: 'string' } }
const probe = { type: 'object', description: 'A Kubernetes probe (httpGet, periodSeconds, failureThreshold, ...).' }

/** values.schema.json: helm lint/install/template reject values that would render a broken chart. */
export function valuesSchema(): Record<string, unknown> {
  return obj(
    {
      nameOverride: str,
      fullnameOverride: str,
      replicaCount: int(0),
      image: obj(
        {
          repository: { type: 'string', minLength: 1 },
          tag: str,
          digest: { type: 'string', pattern: '^(sha256:[a-f0-9]{64})?$' },
          pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
        },
        { required: ['repository'], additionalProperties: false },
      ),
      imagePullSecrets: { type: 'array', items: obj({ name: str }, { required: ['name'] }) },
      serviceAccount: obj({ create: { type: 'boolean' }, automount: { type: 'boolean' }, annotations: map, name: str }, { additionalProperties: false }),
      podAnnotations: map,
      podLabels: map,
      podSecurityContext: { type: 'object' },
      securityContext: { type: 'object' },
      containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
      env: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, description: 'Container environment (PORT is set from containerPort).' },
      secretEnv: {
        type: 'object',
        additionalProperties: obj({ name: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } }, { required: ['name', 'key'], additionalProperties: false }),
        description: 'Container environment from Secrets, by reference: VAR: {name: <Secret>, key: <key in it>} (valueFrom.secretKeyRef). Never a value.',
      },
      service: obj(
        { type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, port: { type: 'integer', minimum: 1, maximum: 65535 }, nodePort: { type: 'integer', minimum: 30000, maximum: 32767 } },
        { required: ['type', 'port'], additionalProperties: false },
      ),
      ingress: obj(
        {
          enabled: { type: 'boolean' },
          className: str,
          annotations: map,
          hosts: { type: 'array', items: obj({ host: str, paths: { type: 'array', items: obj({ path: str, pathType: { enum: ['Prefix', 'Exact', 'ImplementationSpecific'] } }, { required: ['path', 'pathType'] }) } }, { required: ['host', 'paths'] }) },
          tls: { type: 'array', items: obj({ secretName: str, hosts: { type: 'array', items: str } }) },
        },
        { additionalProperties: false },
      ),
      resources: obj({ requests: { type: 'object' }, limits: { type: 'object' } }, { additionalProperties: false }),
      startupProbe: probe,
      livenessProbe: probe,
      readinessProbe: probe,
      autoscaling: obj(
        { enabled: { type: 'boolean' }, minReplicas: int(1), maxReplicas: int(1), targetCPUUtilizationPercentage: int(0), targetMemoryUtilizationPercentage: int(0) },
        { additionalProperties: false },
      ),
      terminationGracePeriodSeconds: int(0),
      nodeSelector: map,
      tolerations: { type: 'array', items: { type: 'object' } },
      affinity: { type: 'object' },
    },
    { required: ['image', 'service', 'containerPort'], additionalProperties: false },
  )
}

const VALUES_HEADER = (project: Project, file: string, note: string) =>
  `# ${file}: written by \`mlx package --target helm\` from ${path.basename(project.manifestFile)} (targets.helm${file === 'values.yaml' ? '' : ', environments'}).\n${note}`

export interface ChartFiles {
  dir: string
  values: Record<string, string>
}

/** Writes the chart folder: Chart.yaml, values files, values.schema.json, templates/. */
export async function writeChart(dir: string, project: Project, chart: ChartMeta, values: Values, overlays: Record<string, unknown>, imageNote: string): Promise<ChartFiles> {
  await rm(dir, { recursive: true, force: true })
  await mkdir(path.join(dir, 'templates', 'tests'), { recursive: true })
  const y = (v: unknown) => stringify(v, { lineWidth: 0 })
  const files: Record<string, string> = {
    'Chart.yaml': chartYaml(project, chart),
    '.helmignore': t.HELMIGNORE,
    'values.yaml': VALUES_HEADER(project, 'values.yaml', imageNote) + y(values),
    'values.schema.json': JSON.stringify(valuesSchema(), null, 2) + '\n',
    'templates/_helpers.tpl': t.HELPERS,
    'templates/deployment.yaml': t.DEPLOYMENT,
    'templates/service.yaml': t.SERVICE,
    'templates/serviceaccount.yaml': t.SERVICE_ACCOUNT,
    'templates/hpa.yaml': t.HPA,
    'templates/ingress.yaml': t.INGRESS,
    'templates/NOTES.txt': t.NOTES,
    'templates/tests/test-connection.yaml': t.TEST_CONNECTION,
  }
  const valueFiles: Record<string, string> = { default: path.join(dir, 'values.yaml') }
  for (const [env, overlay] of Object.entries(overlays)) {
    const name = `values.${env}.yaml`
    files[name] = VALUES_HEADER(project, name, `# Use it on top of values.yaml: helm upgrade --install <release> . -f ${name}\n`) + (overlay === undefined ? '{}\n' : y(overlay))
    valueFiles[env] = path.join(dir, name)
  }
  await Promise.all(Object.entries(files).map(([f, text]) => writeFile(path.join(dir, f), text)))
  return { dir, values: valueFiles }
}
