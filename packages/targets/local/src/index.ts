import { definePlugin } from '@mlx/core'
import { localTarget } from './target.js'

export { localTarget }
export default definePlugin({ name: '@mlx/target-local', targets: [localTarget] })
