import { definePlugin } from '@mlx/core'
import { onnxRuntime } from './runtime.js'

export { onnxRuntime }
export default definePlugin({ name: '@mlx/runtime-onnx', runtimes: [onnxRuntime] })
