// Train the titanic example model and write:
//   examples/titanic/model/titanic.onnx     logistic regression, preprocessing inside the graph
//   examples/titanic/model/metrics.json     accuracies measured by running the exported ONNX file
//   examples/titanic/data/reference.parquet the held-out rows, all 15 original columns
// Run from anywhere: node examples/titanic/train/train.mjs
// Everything is deterministic (fixed seed, fixed split, no timestamps), so a
// re-run reproduces all three files byte for byte.

import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import { parquetWriteBuffer } from 'hyparquet-writer'
import * as onnx from '../../../scripts/lib/onnx-builder.mjs'
import { mulberry32, shuffledIndices } from '../../../scripts/lib/random.mjs'
import { COLUMN_TYPES, parseTitanicCsv } from './csv.mjs'
import { fitLogReg, sigmoid } from './logreg.mjs'

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..')
const CSV = join(EXAMPLE, 'data', 'titanic.csv')
const ONNX_OUT = join(EXAMPLE, 'model', 'titanic.onnx')
const METRICS_OUT = join(EXAMPLE, 'model', 'metrics.json')
const PARQUET_OUT = join(EXAMPLE, 'data', 'reference.parquet')

const SEED = 42
const HELD_OUT_FRACTION = 0.2
const L2 = 1.0 // fixed a priori, not tuned on the held-out rows

// Model inputs, in CSV column order. `survived` is the label; `alive` is the
// same label spelled yes/no, so feeding it would leak the answer.
const NUMERIC = ['pclass', 'age', 'sibsp', 'parch', 'fare', 'adult_male', 'alone']
const CATEGORICAL = ['sex', 'embarked', 'class', 'who', 'deck', 'embark_town']
const FEATURES = Object.keys(COLUMN_TYPES).filter((c) => NUMERIC.includes(c) || CATEGORICAL.includes(c))

// Booleans become 0/1 floats, exactly as the server will feed them.
const numericValue = (v) => (v === null ? NaN : typeof v === 'boolean' ? Number(v) : v)

function median(values) {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Preprocessing fitted on the training rows only; mirrors the ONNX graph. */
function fitPreprocessing(rows) {
  const impute = NUMERIC.map((c) => median(rows.map((r) => numericValue(r[c]))))
  const filled = (r) => NUMERIC.map((c, j) => (Number.isNaN(numericValue(r[c])) ? impute[j] : numericValue(r[c])))
  const cols = rows.map(filled)
  const mean = NUMERIC.map((_, j) => cols.reduce((s, r) => s + r[j], 0) / cols.length)
  const std = NUMERIC.map((_, j) => Math.sqrt(cols.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / cols.length) || 1)
  // Sorted vocabularies: stable order regardless of row order. Missing ("")
  // is deliberately not a category, so it one-hot encodes to all zeros.
  const vocab = Object.fromEntries(CATEGORICAL.map((c) =>
    [c, [...new Set(rows.map((r) => r[c]).filter((v) => v !== null))].sort()]))
  const transform = (r) => [
    ...filled(r).map((v, j) => (v - mean[j]) / std[j]),
    ...CATEGORICAL.flatMap((c) => vocab[c].map((cat) => (r[c] === cat ? 1 : 0))),
  ]
  return { impute, mean, std, vocab, transform }
}

function buildOnnx(pre, fit) {
  const { DataType: T, attr } = onnx
  const D = fit.weights.length
  const nodes = [
    onnx.node('Concat', NUMERIC, ['num_raw'], { axis: attr.i(1) }),
    onnx.mlNode('Imputer', ['num_raw'], ['num_imputed'], {
      imputed_value_floats: attr.floats(pre.impute),
      replaced_value_float: attr.f(NaN), // default is 0, which would "impute" every False boolean
    }),
    onnx.mlNode('Scaler', ['num_imputed'], ['num_scaled'], {
      offset: attr.floats(pre.mean),
      scale: attr.floats(pre.std.map((s) => 1 / s)),
    }),
    // zeros=1: unseen categories (and "") give an all-zero row instead of an error.
    ...CATEGORICAL.map((c) => onnx.mlNode('OneHotEncoder', [c], [`${c}_onehot`], {
      cats_strings: pre.vocab[c], zeros: attr.i(1),
    })),
    // OneHotEncoder appends the category axis: [N,1] -> [N,1,K]; Flatten drops the middle 1.
    onnx.node('Concat', CATEGORICAL.map((c) => `${c}_onehot`), ['cat_3d'], { axis: attr.i(2) }),
    onnx.node('Flatten', ['cat_3d'], ['cat_onehot'], { axis: attr.i(1) }),
    onnx.node('Concat', ['num_scaled', 'cat_onehot'], ['features'], { axis: attr.i(1) }),
    // Two explicit rows (class 0 = -w, class 1 = +w) so LOGISTIC yields [1-p, p]
    // per the operator spec, without relying on a runtime's binary special case.
    onnx.mlNode('LinearClassifier', ['features'], ['label', 'probabilities'], {
      classlabels_ints: attr.ints([0, 1]),
      coefficients: attr.floats([...fit.weights.map((w) => -w), ...fit.weights]),
      intercepts: attr.floats([-fit.intercept, fit.intercept]),
      multi_class: attr.i(0),
      post_transform: 'LOGISTIC',
    }),
  ]
  if (D !== NUMERIC.length + CATEGORICAL.reduce((s, c) => s + pre.vocab[c].length, 0)) {
    throw new Error('feature layout mismatch')
  }
  const inputs = FEATURES.map((c) =>
    onnx.valueInfo(c, NUMERIC.includes(c) ? T.FLOAT : T.STRING, ['N', 1]))
  return onnx.encodeModel(onnx.model({
    graph: onnx.graph({
      name: 'titanic_logreg',
      nodes,
      inputs,
      outputs: [
        onnx.valueInfo('label', T.INT64, ['N']),
        onnx.valueInfo('probabilities', T.FLOAT, ['N', 2]),
      ],
    }),
    opsets: { '': 17, 'ai.onnx.ml': 3 },
    irVersion: 8,
    producerName: 'mlx-examples',
    docString: 'Titanic survival: logistic regression; probabilities[:,1] = P(survived). Built by examples/titanic/train/train.mjs.',
  }))
}

/** Feed rows the way the server does: every column [N,1]; NaN / "" for missing. */
function feeds(rows) {
  const out = {}
  for (const c of FEATURES) {
    out[c] = NUMERIC.includes(c)
      ? new ort.Tensor('float32', Float32Array.from(rows, (r) => numericValue(r[c])), [rows.length, 1])
      : new ort.Tensor('string', rows.map((r) => r[c] ?? ''), [rows.length, 1])
  }
  return out
}

async function onnxAccuracy(session, rows) {
  const { label, probabilities } = await session.run(feeds(rows))
  let correct = 0
  rows.forEach((r, i) => { if (Number(label.data[i]) === r.survived) correct++ })
  return { accuracy: correct / rows.length, probabilities: probabilities.data }
}

function writeParquet(rows) {
  const type = { int: 'INT32', float: 'DOUBLE', bool: 'BOOLEAN', string: 'STRING' }
  const buf = parquetWriteBuffer({
    columnData: Object.entries(COLUMN_TYPES).map(([name, kind]) => ({
      name, type: type[kind], data: rows.map((r) => r[name]),
    })),
    createdBy: 'mlx-examples titanic train.mjs',
  })
  writeFileSync(PARQUET_OUT, new Uint8Array(buf))
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')
const rel = (p) => relative(process.cwd(), p) || p

async function main() {
  const csvBytes = readFileSync(CSV)
  const { rows } = parseTitanicCsv(csvBytes.toString('utf8'))
  console.log(`read ${rows.length} rows from ${rel(CSV)} (sha256 ${sha256(csvBytes)})`)

  const order = shuffledIndices(rows.length, mulberry32(SEED))
  const nHeld = Math.round(rows.length * HELD_OUT_FRACTION)
  // Keep original file order inside each split: easier to eyeball, same result.
  const heldIdx = order.slice(0, nHeld).sort((a, b) => a - b)
  const trainIdx = order.slice(nHeld).sort((a, b) => a - b)
  const train = trainIdx.map((i) => rows[i])
  const held = heldIdx.map((i) => rows[i])

  const pre = fitPreprocessing(train)
  const fit = fitLogReg(train.map(pre.transform), train.map((r) => r.survived), { l2: L2 })
  console.log(`fitted ${fit.weights.length} weights + intercept in ${fit.iterations} Newton steps`)

  const model = buildOnnx(pre, fit)
  mkdirSync(dirname(ONNX_OUT), { recursive: true })
  writeFileSync(ONNX_OUT, model)

  // Accuracies come from the exported file itself, so they are what a server sees.
  const session = await ort.InferenceSession.create(model)
  const trainRes = await onnxAccuracy(session, train)
  const heldRes = await onnxAccuracy(session, held)
  // Sanity check: the float32 graph reproduces the float64 JS model.
  let maxDiff = 0
  held.forEach((r, i) => {
    const z = pre.transform(r).reduce((s, x, j) => s + x * fit.weights[j], fit.intercept)
    maxDiff = Math.max(maxDiff, Math.abs(sigmoid(z) - heldRes.probabilities[2 * i + 1]))
  })
  if (maxDiff > 1e-4) throw new Error(`ONNX and JS probabilities differ by ${maxDiff}`)

  // Baseline: always predict the training split's majority class.
  const trainSurvivors = train.filter((r) => r.survived === 1).length
  const majority = trainSurvivors * 2 > train.length ? 1 : 0
  const baseline = held.filter((r) => r.survived === majority).length / held.length

  const metrics = {
    heldOutAccuracy: heldRes.accuracy,
    trainAccuracy: trainRes.accuracy,
    baselineAccuracy: baseline,
    heldOutRows: held.length,
    trainRows: train.length,
    seed: SEED,
    features: FEATURES,
  }
  writeFileSync(METRICS_OUT, JSON.stringify(metrics, null, 2) + '\n')
  writeParquet(held)

  console.log(`max |P_onnx - P_js| on held-out: ${maxDiff.toExponential(2)}`)
  console.log(JSON.stringify(metrics, null, 2))
  for (const f of [ONNX_OUT, METRICS_OUT, PARQUET_OUT]) console.log(`wrote ${rel(f)}  sha256 ${sha256(readFileSync(f))}`)
}

await main()
