/**
 * Maximum-likelihood label shift (MLLS; the EM of Saerens et al. 2002) over
 * a few rounds' probabilities, in typed arrays: the E-step re-weights each
 * posterior p(y | x) by q(y) / r(y) (r: the prior the posteriors are
 * calibrated to) and renormalises; the M-step takes their mean as the next
 * q. lib/priors/em.ts is the same iteration in libtorch for a whole test
 * set; a round holds ten samples, where crossing into libtorch per
 * iteration costs more than the arithmetic.
 *
 * @module
 */

import type { ProbRows } from "./probs.ts";

/** Stopping rule of {@link mllsPrior}. */
export interface MllsOptions {
  /** Most iterations (default 100). */
  maxIterations?: number;
  /** Stop when no class's prior moves more than this (default 1e-6). */
  tolerance?: number;
}

/**
 * Adds to `out`, times `scale`, the mean over all rows of `chunks` of the
 * posteriors re-weighted by `ratio` = q / r and renormalised (one E-step).
 */
export function addReweightedMean(
  chunks: readonly ProbRows[],
  ratio: Float64Array,
  out: Float64Array,
  scale: number,
): void {
  const classes = ratio.length;
  let rows = 0;
  for (const p of chunks) rows += p.rows;
  if (rows === 0) return;
  const w = new Float64Array(classes);
  for (const p of chunks) {
    const d = p.data;
    for (let i = 0; i < p.rows; i++) {
      const o = i * classes;
      let s = 0;
      for (let c = 0; c < classes; c++) {
        w[c] = d[o + c] * ratio[c];
        s += w[c];
      }
      if (!(s > 0)) continue;
      const f = scale / (s * rows);
      for (let c = 0; c < classes; c++) out[c] += w[c] * f;
    }
  }
}

/** q(c) / r(c), with r clipped at 1e-12. */
export function priorRatio(q: ArrayLike<number>, reference: ArrayLike<number>): Float64Array {
  return Float64Array.from(q, (v, c) => v / Math.max(reference[c], 1e-12));
}

/**
 * The MLLS estimate of the prior of the samples in `chunks` (their rows
 * together), starting from `start`, for posteriors calibrated to
 * `reference`. Returns `start` (copied) when there are no rows.
 */
export function mllsPrior(
  chunks: readonly ProbRows[],
  reference: ArrayLike<number>,
  start: ArrayLike<number>,
  options: MllsOptions = {},
): Float64Array {
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-6;
  let q = Float64Array.from(start);
  for (let k = 0; k < maxIterations; k++) {
    const next = new Float64Array(q.length);
    addReweightedMean(chunks, priorRatio(q, reference), next, 1);
    let total = 0;
    for (const v of next) total += v;
    if (!(total > 0)) return q;
    let moved = 0;
    for (let c = 0; c < q.length; c++) {
      next[c] /= total;
      moved = Math.max(moved, Math.abs(next[c] - q[c]));
    }
    q = next;
    if (moved < tolerance) break;
  }
  return q;
}
