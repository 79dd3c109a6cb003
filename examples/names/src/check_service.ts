import type { Handler } from '@mlx/core'

/**
 * GET /check_service: the original service's liveness answer, unchanged. The import is type-only,
 * so the compiled handler needs nothing at run time (it can be served from any folder).
 */
const checkService: Handler = () => ({ Message: 'Hello world from service' })

export default checkService
