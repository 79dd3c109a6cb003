// Seeded randomness for the training scripts: fully specified generators, so a split or a batch
// order is the same on every run and every platform, and re-running a script reproduces its files.

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** xorshift32: another tiny seeded PRNG returning floats in [0, 1) (seed 0 is taken as 1). */
export function xorshift32(seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

/** Fisher–Yates shuffle of `list` in place, driven by `rand`; returns the list. */
export function shuffleInPlace(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[list[i], list[j]] = [list[j], list[i]]
  }
  return list
}

/** 0..n-1 in a shuffled order. */
export function shuffledIndices(n, rand) {
  return shuffleInPlace(Array.from({ length: n }, (_, i) => i), rand)
}
