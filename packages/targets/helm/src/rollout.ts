import type { V1Deployment, V1Pod } from '@kubernetes/client-node'

export interface RolloutState {
  done: boolean
  /** The rollout cannot finish by waiting (ProgressDeadlineExceeded). */
  failed?: boolean
  message: string
}

/** `kubectl rollout status` for a Deployment, as one pure step over its status. */
export function rolloutState(d: V1Deployment): RolloutState {
  const name = d.metadata?.name ?? 'deployment'
  const generation = d.metadata?.generation ?? 0
  const st = d.status ?? {}
  if (generation > (st.observedGeneration ?? 0)) return { done: false, message: `waiting for the deployment spec update to be observed` }
  const progressing = st.conditions?.find((c) => c.type === 'Progressing')
  if (progressing?.reason === 'ProgressDeadlineExceeded') return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline` }
  const want = d.spec?.replicas ?? 1
  const updated = st.updatedReplicas ?? 0
  const replicas = st.replicas ?? 0
  const available = st.availableReplicas ?? 0
  if (updated < want) return { done: false, message: `${updated} of ${want} new replicas have been updated` }
  if (replicas > updated) return { done: false, message: `${replicas - updated} old replicas are pending termination` }
  if (available < updated) return { done: false, message: `${available} of ${updated} updated replicas are available` }
  return { done: true, message: `deployment "${name}" successfully rolled out` }
}

/** Waiting reasons that do not go away by waiting longer. */
export const STUCK = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'])

export interface PodProblem {
  pod: string
  container?: string
  reason: string
  message?: string
  restarts?: number
  /** Set for a crashed container: its previous run's output is the useful one. */
  crashed?: boolean
}

/** Why pods are not ready, by reason (ImagePullBackOff, CrashLoopBackOff, Unschedulable, ...). */
export function podProblems(pods: readonly V1Pod[]): PodProblem[] {
  const out: PodProblem[] = []
  for (const p of pods) {
    const pod = p.metadata?.name ?? '?'
    if (p.metadata?.deletionTimestamp) continue // an old pod on its way out
    const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled')
    if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
      out.push({ pod, reason: 'Unschedulable', message: sched.message })
      continue
    }
    for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const waiting = c.state?.waiting
      const terminated = c.state?.terminated ?? c.lastState?.terminated
      if (waiting?.reason && waiting.reason !== 'ContainerCreating' && waiting.reason !== 'PodInitializing') {
        out.push({ pod, container: c.name, reason: waiting.reason, message: waiting.message ?? (terminated ? `last exit code ${terminated.exitCode}${terminated.reason ? ` (${terminated.reason})` : ''}` : undefined), restarts: c.restartCount, crashed: c.restartCount > 0 || Boolean(terminated) })
      } else if (!c.ready && c.state?.running) {
        out.push({ pod, container: c.name, reason: 'NotReady', message: 'running, but its readiness probe (/readyz) does not pass yet', restarts: c.restartCount, crashed: c.restartCount > 0 })
      } else if (c.state?.terminated) {
        out.push({ pod, container: c.name, reason: c.state.terminated.reason ?? 'Terminated', message: `exit code ${c.state.terminated.exitCode}`, restarts: c.restartCount, crashed: true })
      }
    }
    if (!p.status?.containerStatuses?.length && p.status?.phase === 'Pending' && !out.some((x) => x.pod === pod)) {
      out.push({ pod, reason: 'Pending', message: sched?.message })
    }
  }
  return out
}

export function describeProblem(p: PodProblem): string {
  return `pod ${p.pod}${p.container ? ` (container ${p.container})` : ''}: ${p.reason}${p.message ? ` — ${p.message}` : ''}${p.restarts ? `, ${p.restarts} restart${p.restarts === 1 ? '' : 's'}` : ''}`
}

export function hintFor(problems: readonly PodProblem[]): string {
  const reasons = new Set(problems.map((p) => p.reason))
  if (reasons.has('ImagePullBackOff') || reasons.has('ErrImagePull') || reasons.has('InvalidImageName'))
    return 'the cluster cannot pull the image: check that it was pushed to a registry the nodes can reach, and for a private registry set targets.helm.imagePullSecrets.'
  if (reasons.has('CrashLoopBackOff') || reasons.has('Error')) return 'the server exits on start: the log lines above say why (try `mlx serve` locally with the same environment).'
  if (reasons.has('Unschedulable')) return 'no node can take the pod: lower targets.helm.resources.requests, or add nodes / fix nodeSelector and tolerations.'
  if (reasons.has('CreateContainerConfigError')) return 'a referenced Secret or ConfigMap is missing, or the securityContext does not fit the image.'
  if (reasons.has('NotReady')) return 'the pods run but /readyz never answers 200: models may load slowly (raise targets.helm.timeoutSeconds / startupTimeoutSeconds) or fail to load (see the log).'
  return 'see `kubectl describe deployment` and `kubectl get events` in the namespace.'
}
