// Gradient-boosted regression trees (squared error), small enough to read in one sitting.
//
// Each tree is grown level by level. Every feature column is sorted once; a level is one pass
// over each sorted column, accumulating left-hand sums per node, so a level costs
// O(features × rows) whatever the number of nodes. Features are float32 and every threshold is
// a float32 value from the data, so `x <= threshold` splits rows identically in this code and in
// onnxruntime's TreeEnsembleRegressor. No sampling: the result is fully deterministic.

/**
 * X: array of rows (numbers already float32-rounded), y: targets.
 * Returns { base, trees } with trees as flat node lists:
 *   internal node { feature, threshold, left, right } (left = x <= threshold), leaf { value }.
 * Leaf values already include the learning rate; prediction = base + sum of reached leaves.
 */
export function fitGbm(X, y, { trees = 200, depth = 5, learningRate = 0.1, minLeaf = 20 } = {}) {
  const n = X.length
  const F = X[0].length
  const cols = Array.from({ length: F }, (_, f) => Float32Array.from(X, (r) => r[f]))
  const order = cols.map((col) => Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => col[a] - col[b] || a - b))
  const base = y.reduce((s, v) => s + v, 0) / n
  const pred = new Float64Array(n).fill(base)
  const residual = new Float64Array(n)
  const nodeOf = new Int32Array(n)
  const out = []

  for (let t = 0; t < trees; t++) {
    for (let i = 0; i < n; i++) residual[i] = y[i] - pred[i]
    const nodes = [{ rows: n, sum: 0 }]
    for (let i = 0; i < n; i++) nodes[0].sum += residual[i]
    nodeOf.fill(0)
    let level = [0]
    for (let d = 0; d < depth && level.length; d++) {
      // Best split per node of this level: { gain, feature, threshold }.
      const best = new Map(level.map((id) => [id, { gain: 1e-9, feature: -1, threshold: 0 }]))
      const slot = new Int32Array(nodes.length).fill(-1)
      level.forEach((id, k) => (slot[id] = k))
      const cnt = new Float64Array(level.length)
      const sum = new Float64Array(level.length)
      const last = new Float64Array(level.length)
      for (let f = 0; f < F; f++) {
        const col = cols[f]
        const ord = order[f]
        cnt.fill(0)
        sum.fill(0)
        last.fill(-Infinity)
        for (let j = 0; j < n; j++) {
          const i = ord[j]
          const k = slot[nodeOf[i]]
          if (k < 0) continue
          const v = col[i]
          // Rows so far (all <= last[k] < v) go left: evaluate the split at last[k].
          if (v > last[k] && cnt[k] >= minLeaf) {
            const node = nodes[level[k]]
            const nl = cnt[k]
            const nr = node.rows - nl
            if (nr >= minLeaf) {
              const sl = sum[k]
              const sr = node.sum - sl
              const gain = (sl * sl) / nl + (sr * sr) / nr - (node.sum * node.sum) / node.rows
              const b = best.get(level[k])
              if (gain > b.gain) Object.assign(b, { gain, feature: f, threshold: last[k] })
            }
          }
          cnt[k]++
          sum[k] += residual[i]
          last[k] = v
        }
      }
      const next = []
      for (const id of level) {
        const b = best.get(id)
        if (b.feature < 0) continue
        const left = nodes.length
        nodes.push({ rows: 0, sum: 0 }, { rows: 0, sum: 0 })
        Object.assign(nodes[id], { feature: b.feature, threshold: b.threshold, left, right: left + 1 })
        next.push(left, left + 1)
      }
      for (let i = 0; i < n; i++) {
        const node = nodes[nodeOf[i]]
        if (node.feature === undefined) continue
        const child = cols[node.feature][i] <= node.threshold ? node.left : node.right
        nodeOf[i] = child
        nodes[child].rows++
        nodes[child].sum += residual[i]
      }
      level = next
    }
    const tree = nodes.map((node) =>
      node.feature === undefined
        ? { value: Math.fround((learningRate * node.sum) / node.rows) }
        : { feature: node.feature, threshold: node.threshold, left: node.left, right: node.right })
    for (let i = 0; i < n; i++) pred[i] += tree[nodeOf[i]].value
    out.push(tree)
  }
  return { base, trees: out }
}

/** Float64 prediction for one float32 feature row (the ONNX graph sums in float32). */
export function predictGbm(model, x) {
  let s = model.base
  for (const tree of model.trees) {
    let node = tree[0]
    while (node.value === undefined) node = tree[x[node.feature] <= node.threshold ? node.left : node.right]
    s += node.value
  }
  return s
}
