import { definePlugin } from '@mlx/core'
import { helmTarget } from './target.js'

export { helmTarget } from './target.js'
export { configSchema, deepMerge, type HelmConfig } from './config.js'
export { chartValues, valuesOverlay, mergeValues, type Values, type ImageValues } from './values.js'
export { renderManifests, manifestsYaml, names, imageRef, type KubeObject, type ChartMeta, type ReleaseMeta } from './render.js'
export { valuesSchema } from './chart.js'
export { rolloutState, podProblems, type PodProblem, type RolloutState } from './rollout.js'
export { upgradeArgs, rollbackArgs, findHelm } from './helm-cli.js'
export { Cluster, FIELD_MANAGER } from './cluster.js'

export default definePlugin({ name: '@mlx/target-helm', targets: [helmTarget] })
