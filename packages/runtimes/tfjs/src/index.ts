import { definePlugin } from '@mlx/core'
import { charOneHot } from './chars.js'
import { tfjsRuntime } from './runtime.js'

export { tfjsRuntime, needsAsync } from './runtime.js'
export { tfBackend, type TfBackend } from './backend.js'
export { readModel, modelKind, diskLoadHandler, diskSaveHandler, type ModelJson, type ModelKind, type ReadModel } from './io.js'
export { charOneHot, normalizeText, oneHot, TUTORIAL_ALPHABET, type CharEncoding } from './chars.js'

/**
 * TF.js models (layers and graph) and the `char_onehot` pre-processing op for character-level
 * models. TF.js itself loads at the first model load, not when the plugin is listed.
 */
export default definePlugin({ name: '@mlx/runtime-tfjs', runtimes: [tfjsRuntime], preprocess: { char_onehot: charOneHot } })
