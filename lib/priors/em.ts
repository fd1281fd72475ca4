/**
 * Target-prior estimation by EM (Saerens, Latinne & Decaestecker 2002,
 * maximum-likelihood label shift): re-weight the source posteriors by
 * p_t / p_s, renormalise, and take the mean as the next p_t, until it settles.
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { checkPositivePrior, type PriorLike, priorTensor } from "./source_prior.ts";
import { checkProbabilities } from "./check.ts";

/** Options of the EM estimate. */
export interface EmOptions {
  /** Most iterations (default 1000). */
  maxIterations?: number;
  /** Stop when no class's prior moves more than this (default 1e-8). */
  tolerance?: number;
}

/** What EM found. */
export interface EmResult {
  /** The estimated target prior (sums to 1). */
  prior: number[];
  /** Iterations run. */
  iterations: number;
}

/**
 * Estimates the target prior from unlabelled posteriors `probs` [N, C] (rows
 * summing to 1, calibrated to `sourcePrior`, which must be > 0 for every
 * class: EM divides by it).
 *
 * @example Certain posteriors: the prior is their class mix
 * ```ts
 * import assert from "node:assert/strict";
 * import { emPrior } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using probs = tensor([1, 0, 1, 0, 1, 0, 0, 1], [4, 2]);
 * const { prior } = emPrior(probs, [0.5, 0.5]);
 * assert.deepEqual(prior.map((p) => Math.round(p * 1e6) / 1e6), [0.75, 0.25]);
 * ```
 */
export function emPrior(probs: Tensor, sourcePrior: PriorLike, options: EmOptions = {}): EmResult {
  checkProbabilities(probs, "probs");
  checkPositivePrior(sourcePrior, "sourcePrior", "EM divides the posteriors by it");
  const maxIterations = options.maxIterations ?? 1000;
  const tolerance = options.tolerance ?? 1e-8;
  const p = scope(() => probs.to("float64"));
  const ps = scope(() => priorTensor(sourcePrior, p).clamp(1e-12));
  let pt = ps.clone();
  let prev = pt.toList();
  let iterations = 0;
  try {
    while (iterations < maxIterations) {
      iterations++;
      const next = scope(() => {
        const q = p.mul(pt.div(ps));
        return q.div(q.sum(1, true).clamp(1e-300)).mean(0);
      });
      pt.dispose();
      pt = next;
      const now = pt.toList();
      const moved = Math.max(...now.map((v, c) => Math.abs(v - prev[c])));
      prev = now;
      if (moved < tolerance) break;
    }
    const total = prev.reduce((a, b) => a + b, 0);
    return { prior: prev.map((v) => v / total), iterations };
  } finally {
    p.dispose();
    ps.dispose();
    pt.dispose();
  }
}
