import { definePlugin } from '@mlx/core'
import { flyTarget } from './target.js'

export { flyTarget }
export default definePlugin({ name: '@mlx/target-fly', targets: [flyTarget] })
