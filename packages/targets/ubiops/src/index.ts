import { definePlugin } from '@mlx/core'
import { ubiopsTarget } from './target.js'

export { ubiopsTarget }
export { UbiopsClient } from './api.js'
export { endpointPlan, specFiles, type DataType, type EndpointPlan, type Field } from './spec.js'
export { writeZip, listZip } from './zip.js'
export default definePlugin({ name: '@mlx/target-ubiops', targets: [ubiopsTarget] })
