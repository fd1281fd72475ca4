/**
 * Small dense linear algebra over C x C matrices in Float64Arrays
 * (row-major): the inverse of BBSE's confusion matrix, computed once per
 * evaluation and then applied to every round's mean prediction, and the
 * smallest singular value that sets ATLAS's step sizes.
 *
 * @module
 */

/**
 * The inverse of the n x n matrix `a` (row-major) by Gauss-Jordan elimination
 * with partial pivoting; null when a pivot falls below `tol` (singular).
 */
export function invert(a: Float64Array, n: number, tol = 1e-12): Float64Array | null {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]) > Math.abs(m[p * n + k])) p = i;
    const pivot = m[p * n + k];
    if (!(Math.abs(pivot) > tol)) return null;
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        [m[k * n + j], m[p * n + j]] = [m[p * n + j], m[k * n + j]];
        [inv[k * n + j], inv[p * n + j]] = [inv[p * n + j], inv[k * n + j]];
      }
    }
    for (let j = 0; j < n; j++) {
      m[k * n + j] /= pivot;
      inv[k * n + j] /= pivot;
    }
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const f = m[i * n + k];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[i * n + j] -= f * m[k * n + j];
        inv[i * n + j] -= f * inv[k * n + j];
      }
    }
  }
  return inv;
}

/** The product a b of n x n `a` and the vector `b` (length n). */
export function matVec(a: Float64Array, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j] * b[j];
    out[i] = s;
  }
  return out;
}

/** The transpose of the n x n `a`. */
export function transpose(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}

/** The product a b of two n x n matrices. */
export function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const f = a[i * n + k];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += f * b[k * n + j];
    }
  }
  return out;
}

/**
 * A left inverse of `a` that exists even when `a` is singular (a class never
 * predicted, or never labelled): (a^T a + ridge I)^-1 a^T, the ridge-regularised
 * least-squares solution operator. For an invertible `a` and a small ridge it
 * is close to a^-1.
 */
export function ridgeInverse(a: Float64Array, n: number, ridge = 1e-6): Float64Array {
  const at = transpose(a, n);
  const normal = matMul(at, a, n);
  for (let i = 0; i < n; i++) normal[i * n + i] += ridge;
  // a^T a + ridge I is symmetric positive definite: its inverse exists.
  return matMul(invert(normal, n, 0)!, at, n);
}

/**
 * The smallest singular value of an invertible n x n `a`, given its inverse:
 * 1 / (the largest singular value of a^-1), by power iteration on
 * a^-T a^-1 (from a fixed start, so the result is deterministic).
 */
export function smallestSingularValue(inverse: Float64Array, n: number, iterations = 200): number {
  const it = transpose(inverse, n);
  let v = new Float64Array(n).map((_, i) => 1 + i / n);
  let norm = 0;
  for (let k = 0; k < iterations; k++) {
    const w = matVec(it, matVec(inverse, v, n), n);
    norm = Math.hypot(...w);
    if (!(norm > 0)) return Infinity;
    v = w.map((x) => x / norm);
  }
  // norm approximates the largest eigenvalue of a^-T a^-1, sigma_max(a^-1)^2.
  return 1 / Math.sqrt(norm);
}
