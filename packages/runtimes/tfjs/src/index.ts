import { definePlugin } from '@mlx/core'

// Placeholder until the tfjs plugin lands: a valid plugin that contributes nothing yet.
export default definePlugin({ name: '@mlx/runtime-tfjs' })
