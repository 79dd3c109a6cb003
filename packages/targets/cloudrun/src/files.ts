import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError, type Artifact } from '@mlx/core'
import { parseDestination, versionTag } from '@mlx/target-docker'
import { stringify as toYaml } from 'yaml'
import { registryFor, type CloudRunContext, type Resolved } from './config.js'
import { INVOKER } from './iam.js'
import { names } from './session.js'
import { knativeService, serviceSpec, type ServiceSpec } from './spec.js'

/** The project the files name until deploy knows it from Application Default Credentials. */
export const PROJECT_PLACEHOLDER = 'PROJECT_ID'

/** What the cloudrun artifact records. */
export interface CloudRunDetails {
  service: string
  region: string
  project?: string
  modelDigest: string
}

/**
 * REGISTRY/REPO@sha256:… for the image as it will be (or was) pushed: the digest is known before
 * the push. Without a built image (no base at package time), REGISTRY/REPO:VERSION.
 */
function imageRef(ctx: CloudRunContext, r: Resolved, project: string): string {
  const registry = registryFor(ctx, r, project)
  const digest = ctx.image?.built?.digest
  try {
    const d = parseDestination(registry, ctx.project.name)
    return digest ? `${d.registry}/${d.repository}@${digest}` : `${d.registry}/${d.repository}:${versionTag(ctx.project.version)}`
  } catch (err) {
    throw new MlxError('USAGE', `targets.cloudrun.registry: ${(err as Error).message}`, { hint: 'the form is HOST[:PORT]/NAMESPACE; leave it unset to push to REGION-docker.pkg.dev/PROJECT/REPOSITORY.' })
  }
}

/** The v2 Service for this artifact: the image as pushed when `image` is given, else as it will be. */
export function desiredSpec(ctx: CloudRunContext, r: Resolved, project: string, a: Artifact<CloudRunDetails>, image?: string): ServiceSpec {
  return serviceSpec({ cfg: r.cfg, image: image ?? imageRef(ctx, r, project), projectName: ctx.project.name, version: a.version, modelDigest: a.details!.modelDigest })
}

/** service.json (the v2 Service mlx sends) and service.yaml (its Knative twin, for gcloud). */
export async function writeSpecs(ctx: CloudRunContext, r: Resolved, project: string, spec: ServiceSpec) {
  await mkdir(ctx.outDir, { recursive: true })
  const json = path.join(ctx.outDir, 'service.json')
  const yaml = path.join(ctx.outDir, 'service.yaml')
  await writeFile(json, JSON.stringify({ name: names(project, r).name, ...spec }, null, 2) + '\n')
  const header = [
    `# Cloud Run service ${r.service} in ${r.region}, written by mlx (Knative serving.knative.dev/v1 form).`,
    `# gcloud run services replace ${path.basename(yaml)} --region ${r.region}${project === PROJECT_PLACEHOLDER ? ' --project YOUR_PROJECT' : ` --project ${project}`}`,
    ...(project === PROJECT_PLACEHOLDER ? [`# ${PROJECT_PLACEHOLDER} is filled in by \`mlx deploy\` from Application Default Credentials, or set targets.cloudrun.project.`] : []),
    ...(r.cfg.allowUnauthenticated ? [`# Public access is an IAM grant, not part of this file: gcloud run services add-iam-policy-binding ${r.service} --region ${r.region} --member allUsers --role ${INVOKER}`] : []),
  ]
  await writeFile(yaml, `${header.join('\n')}\n${toYaml(knativeService(spec, r.service, r.cfg))}`)
  return { json, yaml }
}
