// Trains the classifier example (seed 002: the course's titanic classification
// pipeline) and writes:
//   examples/classifier/model/classifier.onnx     the whole pipeline as one graph: raw columns in
//   examples/classifier/model/metrics.json        accuracies measured by running the ONNX file
//   examples/classifier/data/reference.csv        the held-out passengers, raw columns
//   examples/classifier/data/sample_request.json  three held-out passengers as a /predict body
// Run from anywhere: node examples/classifier/train/train.mjs
// Deterministic (fixed seed and split, no timestamps): a re-run rewrites the same bytes.

import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import * as onnx from '../../../scripts/lib/onnx-builder.mjs'
import { shuffledIndices, xorshift32 } from '../../../scripts/lib/random.mjs'
import { RAW_COLUMNS, readTitanicRaw, toCsv } from './csv.mjs'
import { fitLogisticRegression, sigmoid } from './logreg.mjs'
import { CATEGORICAL, INPUTS, NUMERIC, TITLES, WITH_INDICATOR, categories, fitPreprocessing } from './pipeline.mjs'

const EXAMPLE = join(dirname(fileURLToPath(import.meta.url)), '..')
const RAW_CSV = join(EXAMPLE, 'data', 'titanic_openml_raw.csv')
const ONNX_OUT = join(EXAMPLE, 'model', 'classifier.onnx')
const METRICS_OUT = join(EXAMPLE, 'model', 'metrics.json')
const REFERENCE_OUT = join(EXAMPLE, 'data', 'reference.csv')
const SAMPLE_OUT = join(EXAMPLE, 'data', 'sample_request.json')

/** Reported by /health and /predict as model_version / version (src/version.ts must agree; a test checks). */
export const MODEL_VERSION = '1.0.0'
const SEED = 42
const HELD_OUT_FRACTION = 0.2
const L2 = 1.0 // fixed before looking at held-out rows; the course used C = 0.0005 on sklearn's scale
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')

/** Deterministic held-out split; each side keeps file order. Exported for the tests. */
export function split(rows) {
  const order = shuffledIndices(rows.length, xorshift32(SEED))
  const nHeld = Math.round(rows.length * HELD_OUT_FRACTION)
  const held = order.slice(0, nHeld).sort((a, b) => a - b)
  const train = order.slice(nHeld).sort((a, b) => a - b)
  return { train: train.map((i) => rows[i]), held: held.map((i) => rows[i]) }
}

function buildOnnx(pre, fit) {
  const { DataType: T, attr } = onnx
  const initializers = []
  const strConst = (name, value) => {
    initializers.push(onnx.tensor(name, T.STRING, [], [value]))
    return name
  }
  const nodes = []

  // Title from the name: first of Mrs, Mr, Miss, Master contained in it, else Other (the course's get_title).
  let title = strConst('title_other', 'Other')
  for (const t of [...TITLES].reverse()) {
    nodes.push(onnx.node('RegexFullMatch', ['name'], [`name_has_${t}`], { pattern: `.*${t}.*` }))
    const out = t === TITLES[0] ? 'title' : `title_from_${t}`
    nodes.push(onnx.node('Where', [`name_has_${t}`, strConst(`title_${t}`, t), title], [out]))
    title = out
  }
  // First letter of the cabin ("C22 C26" -> "C"); '' (missing) and anything else pass through.
  let cabin = 'cabin'
  for (const l of [...LETTERS].reverse()) {
    nodes.push(onnx.node('RegexFullMatch', ['cabin'], [`cabin_is_${l}`], { pattern: `${l}.*` }))
    const out = l === LETTERS[0] ? 'cabin_letter' : `cabin_from_${l}`
    nodes.push(onnx.node('Where', [`cabin_is_${l}`, strConst(`letter_${l}`, l), cabin], [out]))
    cabin = out
  }
  const categorical = { sex: 'sex', cabin: 'cabin_letter', embarked: 'embarked', title: 'title' }

  // Numbers: missing indicators for age and fare, then medians for every NaN.
  nodes.push(onnx.node('Concat', NUMERIC, ['num_raw'], { axis: attr.i(1) }))
  nodes.push(onnx.mlNode('Imputer', ['num_raw'], ['num_imputed'], {
    imputed_value_floats: attr.floats(pre.medians),
    replaced_value_float: attr.f(NaN),
  }))
  for (const c of WITH_INDICATOR) {
    nodes.push(onnx.node('IsNaN', [c], [`${c}_isnan`]))
    nodes.push(onnx.node('Cast', [`${c}_isnan`], [`${c}_na`], { to: attr.i(T.FLOAT) }))
  }

  // Categories: '' -> Missing, frequent ones kept, everything else (rare or never seen) -> Rare; then one-hot.
  for (const c of CATEGORICAL) {
    const { frequent } = pre.groups[c]
    const keys = frequent.map((v) => (v === 'Missing' ? '' : v))
    nodes.push(onnx.mlNode('LabelEncoder', [categorical[c]], [`${c}_group`], {
      keys_strings: keys,
      values_strings: frequent,
      default_string: 'Rare',
    }))
    // zeros=1: a group missing from the vocabulary (Rare, when training had none) encodes as all zeros.
    nodes.push(onnx.mlNode('OneHotEncoder', [`${c}_group`], [`${c}_onehot`], { cats_strings: pre.groups[c].vocab, zeros: attr.i(1) }))
  }
  nodes.push(onnx.node('Concat', CATEGORICAL.map((c) => `${c}_onehot`), ['cat_3d'], { axis: attr.i(2) }))
  nodes.push(onnx.node('Flatten', ['cat_3d'], ['cat_onehot'], { axis: attr.i(1) }))
  nodes.push(onnx.node('Concat', ['num_imputed', ...WITH_INDICATOR.map((c) => `${c}_na`), 'cat_onehot'], ['features'], { axis: attr.i(1) }))
  nodes.push(onnx.mlNode('Scaler', ['features'], ['features_scaled'], {
    offset: attr.floats(pre.mean),
    scale: attr.floats(pre.std.map((s) => 1 / s)),
  }))
  // Two explicit rows (class 0 = -w, class 1 = +w): LOGISTIC then gives [1-p, p] by the operator's definition.
  nodes.push(onnx.mlNode('LinearClassifier', ['features_scaled'], ['label', 'probabilities'], {
    classlabels_ints: attr.ints([0, 1]),
    coefficients: attr.floats([...fit.weights.map((w) => -w), ...fit.weights]),
    intercepts: attr.floats([-fit.intercept, fit.intercept]),
    multi_class: attr.i(0),
    post_transform: 'LOGISTIC',
  }))

  return onnx.encodeModel(onnx.model({
    graph: onnx.graph({
      name: 'titanic_course_pipeline',
      nodes,
      initializers,
      inputs: Object.entries(INPUTS).map(([c, kind]) => onnx.valueInfo(c, kind === 'float' ? T.FLOAT : T.STRING, ['N', 1])),
      outputs: [
        onnx.valueInfo('label', T.INT64, ['N']),
        onnx.valueInfo('probabilities', T.FLOAT, ['N', 2]),
        onnx.valueInfo('title', T.STRING, ['N', 1]),
        onnx.valueInfo('cabin_letter', T.STRING, ['N', 1]),
      ],
    }),
    // RegexFullMatch needs opset 20 (onnxruntime >= 1.17).
    opsets: { '': 20, 'ai.onnx.ml': 3 },
    irVersion: 9,
    producerName: 'mlx-examples',
    docString: 'Titanic survival, the course pipeline (title, cabin letter, imputation, rare labels, one-hot, scaling, logistic regression). ' +
      'probabilities[:,1] = P(survived); title and cabin_letter are the derived categories. Built by examples/classifier/train/train.mjs.',
    metadata: { model_version: MODEL_VERSION },
  }))
}

/**
 * Feeds rows as the server does: every input [N,1]; NaN for missing numbers, '' for missing strings.
 * @returns {Record<string, ort.Tensor>}
 */
export function feeds(rows) {
  const out = {}
  for (const [c, kind] of Object.entries(INPUTS)) {
    out[c] = kind === 'float'
      ? new ort.Tensor('float32', Float32Array.from(rows, (r) => r[c] ?? NaN), [rows.length, 1])
      : new ort.Tensor('string', rows.map((r) => r[c] ?? ''), [rows.length, 1])
  }
  return out
}

async function evaluate(session, rows) {
  const out = await session.run(feeds(rows))
  const labels = Array.from(out.label.data, Number)
  const correct = rows.filter((r, i) => labels[i] === r.survived).length
  return { accuracy: correct / rows.length, labels, proba: out.probabilities.data, out }
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')
const rel = (p) => relative(process.cwd(), p) || p

async function main() {
  const csv = readFileSync(RAW_CSV)
  const rows = readTitanicRaw(csv.toString('utf8'))
  console.log(`read ${rows.length} passengers from ${rel(RAW_CSV)} (sha256 ${sha256(csv)})`)
  const { train, held } = split(rows)

  const pre = fitPreprocessing(train)
  const fit = fitLogisticRegression(train.map(pre.transform), train.map((r) => r.survived), { l2: L2 })
  console.log(`${pre.featureNames.length} features after encoding; Newton converged in ${fit.iterations} steps`)
  for (const c of CATEGORICAL) console.log(`  ${c}: kept ${pre.groups[c].frequent.join(', ')}; seen ${pre.groups[c].seen.join(', ')}`)

  const model = buildOnnx(pre, fit)
  mkdirSync(dirname(ONNX_OUT), { recursive: true })
  writeFileSync(ONNX_OUT, model)

  const session = await ort.InferenceSession.create(model)
  const heldRes = await evaluate(session, held)
  const trainRes = await evaluate(session, train)

  // The float32 graph must reproduce the float64 JS pipeline, derived categories included.
  let maxDiff = 0
  held.forEach((r, i) => {
    const z = pre.transform(r).reduce((s, x, j) => s + x * fit.weights[j], fit.intercept)
    maxDiff = Math.max(maxDiff, Math.abs(sigmoid(z) - heldRes.proba[2 * i + 1]))
    const cat = categories(r)
    if (heldRes.out.title.data[i] !== cat.title || heldRes.out.cabin_letter.data[i] !== cat.cabin) throw new Error(`derived categories differ on held-out row ${i}`)
  })
  if (maxDiff > 1e-4) throw new Error(`ONNX and JS probabilities differ by ${maxDiff}`)

  const survivors = train.filter((r) => r.survived === 1).length
  const majority = survivors * 2 > train.length ? 1 : 0
  const metrics = {
    heldOutAccuracy: heldRes.accuracy,
    trainAccuracy: trainRes.accuracy,
    baselineAccuracy: held.filter((r) => r.survived === majority).length / held.length,
    baseline: `always predict the training majority (${majority === 1 ? 'survived' : 'died'})`,
    heldOutRows: held.length,
    trainRows: train.length,
    seed: SEED,
    l2: L2,
    modelVersion: MODEL_VERSION,
    inputs: Object.keys(INPUTS),
    features: pre.featureNames,
    categories: Object.fromEntries(CATEGORICAL.map((c) => [c, pre.groups[c].vocab])),
    medians: Object.fromEntries(NUMERIC.map((c, j) => [c, pre.medians[j]])),
  }
  writeFileSync(METRICS_OUT, JSON.stringify(metrics, null, 2) + '\n')
  writeFileSync(REFERENCE_OUT, toCsv(Object.keys(RAW_COLUMNS), held))
  // The course's request shape: {"inputs": [raw passenger, ...]}; label and missing fields left out.
  const sample = held.slice(0, 3).map((r) => Object.fromEntries(Object.entries(r).filter(([k, v]) => k !== 'survived' && v !== null)))
  writeFileSync(SAMPLE_OUT, JSON.stringify({ inputs: sample }, null, 2) + '\n')

  console.log(`max |P_onnx - P_js| on held-out: ${maxDiff.toExponential(2)}`)
  console.log(`held-out accuracy ${heldRes.accuracy.toFixed(3)} (${held.length} rows) vs baseline ${metrics.baselineAccuracy.toFixed(3)}; train ${trainRes.accuracy.toFixed(3)}`)
  for (const f of [ONNX_OUT, METRICS_OUT, REFERENCE_OUT, SAMPLE_OUT]) console.log(`wrote ${rel(f)}  sha256 ${sha256(readFileSync(f))}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
