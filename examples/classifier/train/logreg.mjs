// L2-regularised logistic regression by Newton's method. The penalised Hessian
// is symmetric positive definite, so each step is one Cholesky solve; a couple of
// dozen features converge in a few steps, deterministically (fixed-order float64).

export const sigmoid = (z) => 1 / (1 + Math.exp(-z))

/** Solves H x = g for symmetric positive definite H (arrays of rows). */
function choleskySolve(H, g) {
  const n = g.length
  const L = Array.from({ length: n }, () => new Float64Array(n))
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i][j]
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k]
      if (i === j) {
        if (s <= 0) throw new Error('Hessian is not positive definite')
        L[i][i] = Math.sqrt(s)
      } else L[i][j] = s / L[j][j]
    }
  }
  const y = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = g[i]
    for (let k = 0; k < i; k++) s -= L[i][k] * y[k]
    y[i] = s / L[i][i]
  }
  const x = new Float64Array(n)
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]
    for (let k = i + 1; k < n; k++) s -= L[k][i] * x[k]
    x[i] = s / L[i][i]
  }
  return x
}

/**
 * Fits P(y = 1 | x) = sigmoid(w·x + b) minimising log-loss + l2/2 |w|² (b is not penalised,
 * so a tiny ridge keeps its row of the Hessian well conditioned).
 * X: feature rows; y: 0/1 labels. Returns { weights, intercept, iterations }.
 */
export function fitLogisticRegression(X, y, { l2 = 1, maxIter = 50, tol = 1e-10 } = {}) {
  const n = X.length
  const d = X[0].length
  let w = new Float64Array(d)
  let b = 0
  for (let it = 1; it <= maxIter; it++) {
    // Unknowns ordered [w_0 .. w_{d-1}, b].
    const g = new Float64Array(d + 1)
    const H = Array.from({ length: d + 1 }, () => new Float64Array(d + 1))
    for (let j = 0; j < d; j++) {
      g[j] = l2 * w[j]
      H[j][j] = l2
    }
    H[d][d] = 1e-12
    for (let i = 0; i < n; i++) {
      const x = X[i]
      let z = b
      for (let j = 0; j < d; j++) z += w[j] * x[j]
      const p = sigmoid(z)
      const r = p - y[i]
      const s = p * (1 - p)
      for (let j = 0; j < d; j++) {
        g[j] += r * x[j]
        const sx = s * x[j]
        for (let k = 0; k <= j; k++) H[j][k] += sx * x[k]
        H[d][j] += sx
      }
      g[d] += r
      H[d][d] += s
    }
    for (let j = 0; j <= d; j++) for (let k = j + 1; k <= d; k++) H[j][k] = H[k][j]
    const step = choleskySolve(H, g)
    w = w.map((v, j) => v - step[j])
    b -= step[d]
    let max = 0
    for (const s of step) max = Math.max(max, Math.abs(s))
    if (max < tol) return { weights: Array.from(w), intercept: b, iterations: it }
  }
  throw new Error(`Newton's method did not converge in ${maxIter} steps`)
}
