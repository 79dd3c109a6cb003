import { definePlugin } from '@mlx/core'

// Placeholder until the image plugin lands: a valid plugin that contributes nothing yet.
export default definePlugin({ name: '@mlx/runtime-image' })
