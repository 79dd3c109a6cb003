import { stat } from 'node:fs/promises'
import { MlxError, type DType, type LoadedModel, type Runtime, type Tensor, type TensorInfo } from '@mlx/core'
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node'

/** onnxruntime element types to ours; anything else is refused at load, not at the first request. */
const DTYPES: Record<string, DType> = {
  float32: 'float32', float64: 'float64', int32: 'int32', int64: 'int64', uint8: 'uint8', int8: 'int8', bool: 'bool', string: 'string',
}

function info(meta: InferenceSession.ValueMetadata, model: string): TensorInfo {
  if (!meta.isTensor) {
    throw new MlxError('MODEL_LOAD_FAILED', `model '${model}': '${meta.name}' is not a tensor (sequences and maps are not served)`, {
      hint: 'export the model without ZipMap/sequence outputs (skl2onnx: options={"zipmap": False}).',
    })
  }
  const dtype = DTYPES[meta.type]
  if (!dtype) {
    throw new MlxError('MODEL_LOAD_FAILED', `model '${model}': '${meta.name}' has element type ${meta.type}, which mlx does not serve yet`, {
      hint: `cast it in the graph to one of ${Object.keys(DTYPES).join(', ')}.`,
    })
  }
  return { name: meta.name, dtype, shape: meta.shape.length ? [...meta.shape] : [-1] }
}

/**
 * ONNX through onnxruntime-node: one session per model, created at load and reused by every
 * request. The session is imported lazily so listing plugins does not load the native binary.
 */
export const onnxRuntime: Runtime = {
  name: 'onnx',
  async load(spec, ctx): Promise<LoadedModel> {
    const s = await stat(spec.path)
    if (!s.isFile()) {
      throw new MlxError('MODEL_LOAD_FAILED', `model '${spec.name}': ${spec.relPath} is a folder, the onnx runtime needs a .onnx file`, { hint: 'point models.<name>.path at the .onnx file.' })
    }
    // onnxruntime-node's Linux build starts Microsoft's telemetry SDK (1DS) with the first session:
    // it leaves an empty mat-debug-<pid>.log and a .ses file in the temp folder of every process
    // that loads a model, and may send usage events. A served model needs none of it. The variable
    // is read when the first session is created; one set by the user (any value) is left alone.
    process.env.ORT_DISABLE_TELEMETRY ??= '1'
    const ort = await import('onnxruntime-node')
    const opts = spec.options as { intraOpNumThreads?: number; interOpNumThreads?: number; graphOptimizationLevel?: InferenceSession.SessionOptions['graphOptimizationLevel'] }
    let session: InferenceSession
    try {
      session = await ort.InferenceSession.create(spec.path, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
        // Warnings such as "initializer in graph inputs" are noise for a served model.
        logSeverityLevel: 3,
        ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
        ...(opts.interOpNumThreads ? { interOpNumThreads: opts.interOpNumThreads } : {}),
      })
    } catch (err) {
      throw new MlxError('MODEL_LOAD_FAILED', `model '${spec.name}': onnxruntime cannot load ${spec.relPath}: ${String((err as Error).message).split('\n')[0]}`, {
        hint: 'the file is not a valid ONNX model (truncated download, wrong format, or an opset newer than onnxruntime-node supports); re-export it.',
        file: spec.path,
        cause: err,
      })
    }
    const inputs = session.inputMetadata.map((m) => info(m, spec.name))
    const outputs = session.outputMetadata.map((m) => info(m, spec.name))
    const outputNames = outputs.map((o) => o.name)
    ctx.log.debug(`onnx: loaded ${spec.relPath} (${inputs.length} inputs, ${outputs.length} outputs)`)
    return {
      inputs,
      outputs,
      metadata: { runtime: 'onnxruntime-node', executionProvider: 'cpu' },
      async run(feeds) {
        const ortFeeds: Record<string, OrtTensor> = {}
        for (const name in feeds) {
          const t = feeds[name]!
          ortFeeds[name] = new ort.Tensor(t.dtype, t.data as never, t.shape as number[])
        }
        const result = await session.run(ortFeeds, outputNames)
        const out: Record<string, Tensor> = {}
        for (const name of outputNames) {
          const r = result[name]!
          out[name] = { dtype: (DTYPES[r.type] ?? 'float32') as DType, shape: [...r.dims], data: r.data as Tensor['data'] }
        }
        return out
      },
      async dispose() {
        await session.release()
      },
    }
  },
}
