import { apiMessage, type IamPolicy } from './api.js'
import type { CloudRunContext } from './config.js'
import type { Session } from './session.js'

export const INVOKER = 'roles/run.invoker'
export const PUBLIC = 'allUsers'

/**
 * Grants (or removes) roles/run.invoker for allUsers, read-modify-write; returns whether the
 * service is public now. A failure is a warning: the service is deployed either way.
 */
export async function makePublic(s: Session, ctx: CloudRunContext, allow: boolean): Promise<boolean> {
  const cmd = `gcloud run services ${allow ? 'add' : 'remove'}-iam-policy-binding ${s.r.service} --region ${s.r.region} --project ${s.project} --member ${PUBLIC} --role ${INVOKER}`
  try {
    const policy = await s.api.getIamPolicy(s.name)
    const bindings = (policy.bindings ?? []).map((b) => ({ ...b, members: [...(b.members ?? [])] }))
    const invoker = bindings.find((b) => b.role === INVOKER && !b.condition)
    const has = invoker?.members.includes(PUBLIC) === true
    if (has === allow) return allow
    let next: IamPolicy['bindings']
    if (allow) next = invoker ? bindings.map((b) => (b === invoker ? { ...b, members: [...b.members, PUBLIC] } : b)) : [...bindings, { role: INVOKER, members: [PUBLIC] }]
    else next = bindings.map((b) => (b === invoker ? { ...b, members: b.members.filter((m) => m !== PUBLIC) } : b)).filter((b) => b.members.length)
    // The etag read above makes a concurrent IAM change fail instead of being overwritten.
    await ctx.log.step(allow ? `Allowing unauthenticated invocations (${INVOKER} for ${PUBLIC})` : `Removing ${PUBLIC} from ${INVOKER}`, () => s.api.setIamPolicy(s.name, { ...policy, bindings: next }))
    return allow
  } catch (err) {
    // As gcloud does: the service is deployed; only the grant is missing (often an org policy).
    ctx.log.warn(`setting the IAM policy of ${s.r.service} failed (${apiMessage(err)}); the service is deployed but ${allow ? 'not public' : 'still public'}. Fix it with: ${cmd}`)
    return !allow
  }
}
