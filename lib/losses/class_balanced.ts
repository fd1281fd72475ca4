/**
 * Class-balanced weights (Cui et al., CVPR 2019): w_c proportional to
 * (1 - beta) / (1 - beta^n_c), the inverse effective number of samples,
 * normalised to sum to C; used with weighted cross-entropy and by LDAM-DRW.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** The effective-number weights of class counts, summing to the number of classes. */
export function classBalancedWeights(counts: readonly number[], beta = 0.9999): number[] {
  if (!(beta >= 0 && beta < 1)) throw new InputError("beta", `must be in [0, 1), got ${beta}`);
  const raw = counts.map((n) => (1 - beta) / (1 - Math.pow(beta, n)));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => (w / total) * counts.length);
}
