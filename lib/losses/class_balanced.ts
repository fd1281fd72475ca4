/**
 * Class-balanced weights (Cui et al., CVPR 2019): w_c proportional to
 * (1 - beta) / (1 - beta^n_c), the inverse effective number of samples,
 * normalised to sum to C; used with weighted cross-entropy and by LDAM-DRW.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/**
 * The effective-number weights of class counts, summing to the number of classes.
 *
 * @example Rarer classes weigh more
 * ```ts
 * import assert from "node:assert/strict";
 * import { classBalancedWeights } from "./mod.ts";
 *
 * // beta 0.5: (1 - beta) / (1 - beta^n) is 1 for n = 1 and 2/3 for n = 2, scaled to sum to 2.
 * const [rare, common] = classBalancedWeights([1, 2], 0.5);
 * assert.ok(Math.abs(rare - 1.2) < 1e-12 && Math.abs(common - 0.8) < 1e-12);
 * ```
 */
export function classBalancedWeights(counts: readonly number[], beta = 0.9999): number[] {
  if (!(beta >= 0 && beta < 1)) throw new InputError("beta", `must be in [0, 1), got ${beta}`);
  const raw = counts.map((n) => (1 - beta) / (1 - Math.pow(beta, n)));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => (w / total) * counts.length);
}
