import { readFile } from 'node:fs/promises'
import type { Deployment, TargetHistory } from '@mlx/core'
import { parseAllDocuments } from 'yaml'
import type { KubeObject } from './render.js'

/**
 * .mlx/helm/releases/<n>/ (ctx.releases()) holds what each deploy applied: manifests.yaml, and
 * the image values it gave helm, so a failed rollout or `mlx rollback` can put an earlier set
 * back exactly.
 */
export async function readManifests(file: string): Promise<KubeObject[]> {
  const text = await readFile(file, 'utf8')
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => Boolean(o?.kind && o.metadata))
}

/** The manifests file a helm record points at. */
export const manifestsOf = (d: Deployment | undefined): string | undefined => (typeof d?.details?.manifests === 'string' ? d.details.manifests : undefined)

/**
 * The last ready deployment of this release name in this namespace, whatever environment name it
 * was made under (the objects are the same). A record made under another
 * name or namespace describes objects elsewhere, which a deploy must neither restore nor prune.
 */
export const lastReadyRelease = (history: TargetHistory, release: string, namespace: string): Deployment | undefined =>
  history.all().filter((d) => d.status === 'ready' && d.details?.release === release && d.details?.namespace === namespace).at(-1)
