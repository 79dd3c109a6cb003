// Trains the taxifare example (seed 004: Le Wagon's TaxiFareModel behind GET /predict) and writes:
//   examples/taxifare/model/taxifare.onnx    gradient-boosted trees (TreeEnsembleRegressor), [N,10] -> fare [N,1]
//   examples/taxifare/model/metrics.json     RMSE from running the ONNX file, cleaning counts
// The held-out rows are not written out: prepare() re-derives them (the tests use it).
// Run from anywhere: node examples/taxifare/train/train.mjs
// Deterministic (fixed seed and split, no sampling, no timestamps): a re-run rewrites the same bytes.

import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import * as onnx from '../../../scripts/lib/onnx-builder.mjs'
import { shuffledIndices, xorshift32 } from '../../../scripts/lib/random.mjs'
import { FEATURES, clean, featurise, readTaxiCsv } from './features.mjs'
import { fitGbm, predictGbm } from './gbm.mjs'

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..')
const CSV = join(EXAMPLE, 'data', 'train_10k.csv')
const ONNX_OUT = join(EXAMPLE, 'model', 'taxifare.onnx')
const METRICS_OUT = join(EXAMPLE, 'model', 'metrics.json')

const SEED = 7
const HELD_OUT_FRACTION = 0.2
// Chosen before looking at the held-out rows; not tuned on them.
const GBM = { trees: 200, depth: 5, learningRate: 0.1, minLeaf: 20 }

/** Cleans, then splits with the fixed seed; each side keeps file order. Exported for the tests. */
export function prepare(text) {
  const raw = readTaxiCsv(text)
  const { kept, dropped } = clean(raw)
  const order = shuffledIndices(kept.length, xorshift32(SEED))
  const nHeld = Math.round(kept.length * HELD_OUT_FRACTION)
  const held = order.slice(0, nHeld).sort((a, b) => a - b).map((i) => kept[i])
  const train = order.slice(nHeld).sort((a, b) => a - b).map((i) => kept[i])
  return { raw, kept, dropped, train, held }
}

function buildOnnx(model) {
  const { DataType: T, attr } = onnx
  const a = { treeids: [], nodeids: [], featureids: [], modes: [], values: [], truenodeids: [], falsenodeids: [] }
  const t = { treeids: [], nodeids: [], ids: [], weights: [] }
  model.trees.forEach((tree, ti) => {
    tree.forEach((node, ni) => {
      const leaf = node.value !== undefined
      a.treeids.push(ti)
      a.nodeids.push(ni)
      a.featureids.push(leaf ? 0 : node.feature)
      a.modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ')
      a.values.push(leaf ? 0 : node.threshold)
      a.truenodeids.push(leaf ? 0 : node.left)
      a.falsenodeids.push(leaf ? 0 : node.right)
      if (leaf) {
        t.treeids.push(ti)
        t.nodeids.push(ni)
        t.ids.push(0)
        t.weights.push(node.value)
      }
    })
  })
  const nodes = [
    onnx.mlNode('TreeEnsembleRegressor', ['features'], ['fare'], {
      aggregate_function: 'SUM',
      base_values: attr.floats([model.base]),
      n_targets: attr.i(1),
      nodes_falsenodeids: attr.ints(a.falsenodeids),
      nodes_featureids: attr.ints(a.featureids),
      nodes_modes: a.modes,
      nodes_nodeids: attr.ints(a.nodeids),
      nodes_treeids: attr.ints(a.treeids),
      nodes_truenodeids: attr.ints(a.truenodeids),
      nodes_values: attr.floats(a.values),
      post_transform: 'NONE',
      target_ids: attr.ints(t.ids),
      target_nodeids: attr.ints(t.nodeids),
      target_treeids: attr.ints(t.treeids),
      target_weights: attr.floats(t.weights),
    }),
  ]
  return onnx.encodeModel(onnx.model({
    graph: onnx.graph({
      name: 'taxifare_gbm',
      nodes,
      inputs: [onnx.valueInfo('features', T.FLOAT, ['N', FEATURES.length])],
      outputs: [onnx.valueInfo('fare', T.FLOAT, ['N', 1])],
    }),
    opsets: { '': 17, 'ai.onnx.ml': 3 },
    irVersion: 8,
    producerName: 'mlx-examples',
    docString: `NYC taxi fare in USD: ${model.trees.length} gradient-boosted trees. Input columns: ${FEATURES.join(', ')} ` +
      '(distance by haversine in km; hour, weekday Monday=0, month, year of the pickup in UTC). Built by examples/taxifare/train/train.mjs.',
  }))
}

/** The float32 [N,10] matrix the server stacks. */
export const matrix = (rows) => new ort.Tensor('float32', Float32Array.from(rows.flatMap(featurise)), [rows.length, FEATURES.length])

const rmse = (pred, rows) => Math.sqrt(rows.reduce((s, r, i) => s + (pred[i] - r.fare_amount) ** 2, 0) / rows.length)
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')
const rel = (p) => relative(process.cwd(), p) || p

async function main() {
  const csv = readFileSync(CSV)
  const { raw, kept, dropped, train, held } = prepare(csv.toString('utf8'))
  console.log(`read ${raw.length} rows from ${rel(CSV)} (sha256 ${sha256(csv)}); kept ${kept.length}`)
  for (const d of dropped) console.log(`  dropped ${String(d.rows).padStart(4)}  ${d.rule}`)

  const model = fitGbm(train.map(featurise), train.map((r) => r.fare_amount), GBM)
  const bytes = buildOnnx(model)
  mkdirSync(dirname(ONNX_OUT), { recursive: true })
  writeFileSync(ONNX_OUT, bytes)

  const session = await ort.InferenceSession.create(bytes)
  const run = async (rows) => Array.from((await session.run({ features: matrix(rows) })).fare.data)
  const heldPred = await run(held)
  const trainPred = await run(train)
  // The graph must reproduce the JS trees (float32 sums vs float64: tiny differences only).
  const maxDiff = held.reduce((m, r, i) => Math.max(m, Math.abs(predictGbm(model, featurise(r)) - heldPred[i])), 0)
  if (maxDiff > 1e-3) throw new Error(`ONNX and JS predictions differ by ${maxDiff}`)

  const mean = train.reduce((s, r) => s + r.fare_amount, 0) / train.length
  const metrics = {
    heldOutRmse: rmse(heldPred, held),
    trainRmse: rmse(trainPred, train),
    baselineRmse: rmse(held.map(() => mean), held),
    baseline: 'predict the training mean fare',
    trainMeanFare: mean,
    heldOutRows: held.length,
    trainRows: train.length,
    rawRows: raw.length,
    cleaning: dropped,
    seed: SEED,
    gbm: GBM,
    nodes: model.trees.reduce((s, t) => s + t.length, 0),
    features: FEATURES,
  }
  writeFileSync(METRICS_OUT, JSON.stringify(metrics, null, 2) + '\n')

  console.log(`max |ONNX - JS| on held-out: ${maxDiff.toExponential(2)}`)
  console.log(`RMSE held-out ${metrics.heldOutRmse.toFixed(3)} (${held.length} rows) vs baseline ${metrics.baselineRmse.toFixed(3)}; train ${metrics.trainRmse.toFixed(3)}`)
  for (const f of [ONNX_OUT, METRICS_OUT]) console.log(`wrote ${rel(f)}  sha256 ${sha256(readFileSync(f))}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
