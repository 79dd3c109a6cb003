// GET /: the seed API's root endpoint, a greeting that shows the service is up. No model needed.
import { defineHandler } from '@mlx/core'

export default defineHandler(() => ({ greeting: 'Hello world' }))
