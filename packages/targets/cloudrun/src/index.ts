import { definePlugin } from '@mlx/core'
import { cloudrunTarget } from './target.js'

export { cloudrunTarget } from './target.js'
export { CloudRunApi, apiError, apiMessage, classifyGax, isNotFound, conditionState, type RunService, type RunRevision, type IamPolicy } from './api.js'
export { applicationDefault, CLOUD_PLATFORM, type Adc } from './auth.js'
export { configSchema, resolveSettings, registryFor, endpointOptions, serviceIdFor, DEFAULT_API_ENDPOINT, type CloudRunConfig, type CloudRunContext } from './config.js'
export { serviceSpec, knativeService, secretRef, labelValue, LATEST, type ServiceSpec } from './spec.js'
export { diffService, formatChange, type FieldChange } from './diff.js'
export type { CloudRunDetails } from './files.js'

export default definePlugin({ name: '@mlx/target-cloudrun', targets: [cloudrunTarget] })
