import { trafficType, type RunService } from './api.js'
import type { ServiceSpec } from './spec.js'

type Flat = Record<string, string | undefined>

const seconds = (d: unknown): string | undefined => {
  if (typeof d === 'string') return d.replace(/s$/, '')
  if (d && typeof d === 'object' && 'seconds' in d) return String((d as { seconds?: unknown }).seconds ?? 0)
  return undefined
}
const str = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : String(v))
const rec = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {})

/** The fields mlx sets, flattened to comparable strings, from a live Service or a desired spec. */
function flatten(svc: RunService | ServiceSpec): Flat {
  const t = rec(svc.template)
  const c = rec((t.containers as unknown[] | undefined)?.[0])
  const res = rec(c.resources)
  const limits = rec(res.limits)
  const scaling = rec(t.scaling)
  const out: Flat = {
    ingress: str((svc as { ingress?: unknown }).ingress),
    'template.containers[0].image': str(c.image),
    'template.containers[0].ports': ((c.ports as { containerPort?: unknown }[] | undefined) ?? []).map((p) => String(p.containerPort)).join(',') || undefined,
    'template.containers[0].resources.limits.cpu': str(limits.cpu),
    'template.containers[0].resources.limits.memory': str(limits.memory),
    'template.containers[0].resources.cpuIdle': str(res.cpuIdle),
    'template.containers[0].resources.startupCpuBoost': str(res.startupCpuBoost),
    'template.containers[0].startupProbe': str(rec(rec(c.startupProbe).httpGet).path),
    'template.containers[0].livenessProbe': str(rec(rec(c.livenessProbe).httpGet).path),
    'template.scaling.minInstanceCount': str(scaling.minInstanceCount ?? 0),
    'template.scaling.maxInstanceCount': str(scaling.maxInstanceCount),
    'template.maxInstanceRequestConcurrency': str(t.maxInstanceRequestConcurrency),
    'template.timeout': seconds(t.timeout),
    'template.serviceAccount': str(t.serviceAccount),
    traffic:
      ((svc.traffic ?? []) as { type?: string | number; revision?: string; percent?: number }[])
        .map((x) => `${trafficType(x.type) === 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST' ? 'LATEST' : x.revision}=${x.percent ?? 0}%`)
        .join(',') || undefined,
  }
  for (const e of (c.env as { name: string; value?: string; valueSource?: { secretKeyRef?: { secret?: string; version?: string } } | null }[] | undefined) ?? []) {
    const ref = e.valueSource?.secretKeyRef
    out[`env.${e.name}`] = ref?.secret ? `secret ${ref.secret}:${ref.version || 'latest'}` : (e.value ?? '')
  }
  for (const [k, v] of Object.entries(rec(svc.labels))) out[`labels.${k}`] = str(v)
  for (const [k, v] of Object.entries(rec(t.labels))) out[`template.labels.${k}`] = str(v)
  return out
}

export interface FieldChange {
  readonly field: string
  readonly from?: string
  readonly to?: string
}

/**
 * What an update would change, field by field. Fields the desired spec leaves to Cloud Run's
 * defaults (max instances, service account) are compared only when mlx sets them; env vars and
 * labels mlx set before but no longer does are reported as removed.
 */
export function diffService(live: RunService, desired: ServiceSpec): FieldChange[] {
  const a = flatten(live)
  const b = flatten(desired)
  const changes: FieldChange[] = []
  const keys = new Set([...Object.keys(b), ...Object.keys(a).filter((k) => k.startsWith('env.') || (k.startsWith('labels.') && a[k] !== undefined && !k.includes('cloud.googleapis.com')))])
  for (const k of keys) {
    if (b[k] === undefined && !k.startsWith('env.') && !k.startsWith('labels.')) continue
    if (a[k] !== b[k]) changes.push({ field: k, from: a[k], to: b[k] })
  }
  return changes
}

export const formatChange = (c: FieldChange) => `${c.field}: ${c.from ?? '(unset)'} → ${c.to ?? '(removed)'}`
