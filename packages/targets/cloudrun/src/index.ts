import { definePlugin } from '@mlx/core'

// Filled in by its issue; registered so the workspace builds.
export default definePlugin({ name: '@mlx/target-cloudrun' })
