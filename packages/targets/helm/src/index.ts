import { definePlugin } from '@mlx/core'
import { helmTarget } from './target.js'

export { helmTarget, type HelmDetails } from './target.js'
export { configSchema, deepMerge, type HelmConfig } from './config.js'
export { chartValues, valuesOverlay, mergeValues, type Values, type ImageValues } from './values.js'
export { renderManifests, manifestsYaml, names, imageRef, type KubeObject, type ChartMeta, type ReleaseMeta } from './render.js'
export { valuesSchema } from './chart.js'
export { rolloutState, podProblems, type PodProblem, type RolloutState } from './rollout.js'
export { upgradeArgs, rollbackArgs, findHelm, resolveMode } from './helm-cli.js'
export { Cluster, clusterFor, FIELD_MANAGER } from './cluster.js'

export default definePlugin({ name: '@mlx/target-helm', targets: [helmTarget] })
