// Trains the surname → language char-RNN of seed 003 in TF.js and saves it as a TF.js layers model.
//
//   node examples/names/train/train.mjs            (from the repository root, after `npm run build`)
//
// Reads data/names/<Language>.txt, normalises every name as the PyTorch tutorial the seed followed
// did (accents stripped, only ASCII letters and " .,;'" kept), removes duplicate (name, language)
// pairs, holds out 10% of each language (fixed seed), and trains one-hot characters → Masking →
// GRU → Dense logits. Writes into examples/names/model/: model.json + weights.bin, labels.txt (one
// language per line, in output order) and metrics.json (held-out accuracy against the baseline),
// and the held-out names to data/heldout.tsv.
// Takes two to three minutes on two CPU cores with the WebAssembly backend; the same run gives the
// same split, the same batches and (on the same backend) the same model.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { diskSaveHandler, normalizeText, oneHot, tfBackend, TUTORIAL_ALPHABET } from '@mlx/runtime-tfjs'
import { mulberry32, shuffleInPlace } from '../../../scripts/lib/random.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const DATA = path.join(here, '../data/names')
const OUT = path.join(here, '../model')
const HELDOUT = path.join(here, '../data/heldout.tsv')

// Settings, chosen with VALIDATE=1 (scores a validation split carved out of the training names,
// never the held-out one; VERBOSE=1 scores every epoch). See the README's "The model".
const SEED = 42
const TEST_FRACTION = 0.1
const UNITS = 64
const EPOCHS = 10
const BATCH = 128
const LEARNING_RATE = 0.01
/** Class weight = (mean count / class count) ^ BALANCE: 0 = none, 1 = fully balanced. */
const BALANCE = 0.5
const ALPHABET = TUTORIAL_ALPHABET
const ENCODING = { alphabet: ALPHABET, stripAccents: true }

const log = { info: (m) => console.log(m), warn: (m) => console.warn(m), debug: () => {}, step: (_t, w) => w() }


async function readData() {
  const files = (await readdir(DATA)).filter((f) => f.endsWith('.txt')).sort()
  const labels = files.map((f) => f.replace(/\.txt$/, ''))
  const byLabel = []
  const stats = { lines: 0, unique: 0, emptied: [] }
  for (const [y, f] of files.entries()) {
    const lines = (await readFile(path.join(DATA, f), 'utf8')).split('\n').map((l) => l.trim()).filter(Boolean)
    stats.lines += lines.length
    const names = new Set()
    for (const line of lines) {
      const { text } = normalizeText(line, ENCODING)
      if (text) names.add(text)
      else stats.emptied.push(line)
    }
    // Sorted before the seeded shuffle: the split depends on the data and the seed only.
    byLabel[y] = [...names].sort()
    stats.unique += names.size
  }
  return { labels, byLabel, stats }
}

function split(byLabel, rand) {
  const train = []
  const test = []
  byLabel.forEach((names, y) => {
    const order = shuffleInPlace([...names], rand)
    const k = Math.max(1, Math.round(order.length * TEST_FRACTION))
    order.forEach((name, i) => (i < k ? test : train).push({ name, y }))
  })
  return { train, test }
}

/** Batches of similar length (less padding), in a seeded random order. */
function batches(examples, rand) {
  const order = shuffleInPlace([...examples], rand)
  const out = []
  const chunk = BATCH * 16
  for (let i = 0; i < order.length; i += chunk) {
    const group = order.slice(i, i + chunk).sort((a, b) => a.name.length - b.name.length)
    for (let j = 0; j < group.length; j += BATCH) out.push(group.slice(j, j + BATCH))
  }
  return shuffleInPlace(out, rand)
}

function buildModel(tf, classes) {
  const input = tf.input({ shape: [null, ALPHABET.length], name: 'chars' })
  const masked = tf.layers.masking({ maskValue: 0, name: 'padding' }).apply(input)
  const state = tf.layers
    .gru({
      units: UNITS,
      name: 'gru',
      kernelInitializer: tf.initializers.glorotUniform({ seed: SEED }),
      recurrentInitializer: tf.initializers.glorotUniform({ seed: SEED + 1 }),
    })
    .apply(masked)
  const logits = tf.layers.dense({ units: classes, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: SEED + 2 }) }).apply(state)
  return tf.model({ inputs: input, outputs: logits, name: 'names_char_gru' })
}

function evaluate(tf, model, examples, classes) {
  let top1 = 0
  let top3 = 0
  const perClass = Array.from({ length: classes }, () => ({ n: 0, ok: 0 }))
  for (let i = 0; i < examples.length; i += 256) {
    const part = examples.slice(i, i + 256)
    const enc = oneHot(part.map((e) => e.name), ALPHABET)
    const scores = tf.tidy(() => model.predict(tf.tensor3d(enc.data, enc.shape)).dataSync())
    part.forEach((e, r) => {
      const row = Array.from(scores.subarray(r * classes, (r + 1) * classes))
      const ranked = row.map((s, j) => [s, j]).sort((a, b) => b[0] - a[0]).map(([, j]) => j)
      perClass[e.y].n++
      if (ranked[0] === e.y) {
        top1++
        perClass[e.y].ok++
      }
      if (ranked.slice(0, 3).includes(e.y)) top3++
    })
  }
  const recalls = perClass.filter((c) => c.n > 0).map((c) => c.ok / c.n)
  return {
    top1: top1 / examples.length,
    top3: top3 / examples.length,
    balanced: recalls.reduce((a, b) => a + b, 0) / recalls.length,
    perClass: perClass.map((c) => (c.n ? c.ok / c.n : null)),
  }
}

const round = (x) => Math.round(x * 10000) / 10000

async function main() {
  const t0 = Date.now()
  const { tf, name: backend, version } = await tfBackend(log)
  const { labels, byLabel, stats } = await readData()
  const classes = labels.length
  const rand = mulberry32(SEED)
  let { train, test } = split(byLabel, rand)
  if (process.env.VALIDATE === '1') {
    // Settings search: hold out another 10% of the training names, never looking at the test split.
    const inner = split(labels.map((_, y) => train.filter((e) => e.y === y).map((e) => e.name)), mulberry32(SEED + 7))
    train = inner.train
    test = inner.test
    console.log('VALIDATE: scoring on a validation split carved from the training names')
  }
  console.log(`${stats.lines} lines, ${stats.unique} unique (name, language) pairs after normalisation; ${train.length} train, ${test.length} held out; backend ${backend}, TF.js ${version}`)

  const counts = Array.from({ length: classes }, (_, y) => train.filter((e) => e.y === y).length)
  const mean = train.length / classes
  const classWeight = counts.map((n) => (mean / n) ** BALANCE)

  const model = buildModel(tf, classes)
  const optimizer = tf.train.adam(LEARNING_RATE)
  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    const te = Date.now()
    let total = 0
    let seen = 0
    if (epoch === Math.ceil(EPOCHS * 0.75)) optimizer.learningRate = LEARNING_RATE / 4
    for (const batch of batches(train, rand)) {
      const enc = oneHot(batch.map((e) => e.name), ALPHABET)
      const loss = tf.tidy(() => {
        const x = tf.tensor3d(enc.data, enc.shape)
        const y = tf.oneHot(tf.tensor1d(batch.map((e) => e.y), 'int32'), classes)
        const w = tf.tensor1d(batch.map((e) => classWeight[e.y]))
        return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }), w), true)
      })
      total += loss.dataSync()[0] * batch.length
      seen += batch.length
      loss.dispose()
    }
    const m = process.env.VERBOSE === '1' || epoch === EPOCHS ? evaluate(tf, model, test, classes) : undefined
    console.log(`epoch ${epoch}/${EPOCHS}: loss ${(total / seen).toFixed(4)}${m ? `, held-out top-1 ${m.top1.toFixed(4)} top-3 ${m.top3.toFixed(4)} balanced ${m.balanced.toFixed(4)}` : ''} (${((Date.now() - te) / 1000).toFixed(1)} s)`)
  }

  const held = evaluate(tf, model, test, classes)
  const testCounts = Array.from({ length: classes }, (_, y) => test.filter((e) => e.y === y).length)
  const majority = testCounts.indexOf(Math.max(...testCounts))
  const trainMajority = counts.indexOf(Math.max(...counts))
  const metrics = {
    task: 'surname → language of origin (18 classes)',
    data: 'data/names/*.txt (PyTorch char-RNN tutorial names), see data/SOURCES.txt',
    normalisation: 'NFD, combining marks removed, characters outside the alphabet dropped, surrounding spaces trimmed; duplicate (name, language) pairs removed',
    alphabet: ALPHABET,
    lines: stats.lines,
    uniquePairs: stats.unique,
    droppedEmpty: stats.emptied.length,
    split: { seed: SEED, heldOutFraction: TEST_FRACTION, stratified: true, trainRows: train.length, heldOutRows: test.length },
    model: { layers: `one-hot(${ALPHABET.length}) → Masking → GRU(${UNITS}) → Dense(${classes}) logits`, epochs: EPOCHS, batch: BATCH, optimizer: `adam(${LEARNING_RATE}), /4 from epoch ${Math.ceil(EPOCHS * 0.75)}`, classWeightPower: BALANCE },
    heldOut: { top1: round(held.top1), top3: round(held.top3), balancedAccuracy: round(held.balanced) },
    baseline: {
      rule: `always '${labels[trainMajority]}' (the training majority class)`,
      top1: round(testCounts[trainMajority] / test.length),
      balancedAccuracy: round(1 / classes),
    },
    perLanguageRecall: Object.fromEntries(labels.map((l, y) => [l, held.perClass[y] === null ? null : round(held.perClass[y])])),
    backend,
    tfjs: version,
  }
  if (majority !== trainMajority) metrics.baseline.note = `the held-out majority is '${labels[majority]}'`
  console.log(JSON.stringify({ heldOut: metrics.heldOut, baseline: metrics.baseline }, null, 2))

  if (process.env.VALIDATE === '1') return
  await mkdir(OUT, { recursive: true })
  await model.save(diskSaveHandler(OUT, { userDefinedMetadata: { alphabet: ALPHABET, labels, stripAccents: true } }))
  await writeFile(path.join(OUT, 'labels.txt'), labels.join('\n') + '\n')
  await writeFile(path.join(OUT, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n')
  // The held-out names (not shipped with the model), so tests can pick names the model never saw.
  await writeFile(HELDOUT, test.map((e) => `${e.name}\t${labels[e.y]}`).join('\n') + '\n')
  console.log(`wrote ${path.relative(process.cwd(), OUT)}/{model.json,weights.bin,labels.txt,metrics.json} and ${path.relative(process.cwd(), HELDOUT)} in ${Math.round((Date.now() - t0) / 1000)} s`)
}

await main()
