import { definePlugin } from '@mlx/core'
import { railwayTarget } from './target.js'

export { railwayTarget } from './target.js'
export { variablesFor } from './variables.js'
export { RailwayClient, DEFAULT_API_URL, type RailwayClientOptions, type RailwayToken, type TokenKind } from './api.js'
export { configSchema, settings, findToken, type RailwayConfig, type Settings } from './config.js'
export { renderRailwayJson, renderProcfile, START_COMMAND } from './files.js'
export * as operations from './operations.js'

export default definePlugin({ name: '@mlx/target-railway', targets: [railwayTarget] })
