/**
 * Per-round estimates of the label distribution: what one round's n
 * unlabelled samples say about q_t on their own. FTH, FLH-FTL, UOGD and
 * ATLAS build on them; the round is far too small for them to be good alone.
 * - BBSE: q = A^-1 mu, with A the soft confusion on held-out labelled data
 *   and mu the round's mean probability. Linear in the round's data, so
 *   unbiased: averages over rounds converge to the true mean q. It may have
 *   negative entries (the users project).
 * - MLLS: EM on the round's calibrated posteriors. Always a distribution,
 *   but biased on ten samples.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { invert, matVec, ridgeInverse } from "./linear.ts";
import { type MllsOptions, mllsPrior } from "./mlls.ts";
import { meanRow, type ProbRows } from "./probs.ts";

/** Maps one round's probabilities to an estimate of its label distribution (length C). */
export type RoundEstimator = (probs: ProbRows) => Float64Array;

/** The per-round estimators by name. */
export const ROUND_ESTIMATORS: readonly string[] = ["em", "bbse"];

/**
 * BBSE per round: A^-1 times the round's mean probability, with `confusion`
 * the soft confusion A (see confusion.ts; C x C, row-major). A singular A (a
 * class never predicted or never labelled) falls back to a ridge-regularised
 * least-squares solve.
 *
 * @example A^-1 times the round's mean prediction
 * ```ts
 * import assert from "node:assert/strict";
 * import { bbseRoundEstimator } from "./round_estimate.ts";
 * import { probRows } from "./probs.ts";
 *
 * // A[j * C + i] = P(yhat = j | y = i): right 80% of the time.
 * const estimate = bbseRoundEstimator(Float64Array.from([0.8, 0.2, 0.2, 0.8]), 2);
 * const q = estimate(probRows([[0.8, 0.2]], 2)); // the mean prediction of class 0 alone
 * assert.ok(Math.abs(q[0] - 1) < 1e-9 && Math.abs(q[1]) < 1e-9);
 * ```
 */
export function bbseRoundEstimator(confusion: Float64Array, classes: number): RoundEstimator {
  if (confusion.length !== classes * classes) {
    throw new InputError("confusion", `must hold ${classes} x ${classes} values`);
  }
  const inverse = invert(confusion, classes) ?? ridgeInverse(confusion, classes);
  return (probs) => matVec(inverse, meanRow(probs), classes);
}

/**
 * MLLS per round: EM on the round's posteriors, calibrated to `reference`,
 * started from `reference`.
 *
 * @example Certain predictions: their class mix
 * ```ts
 * import assert from "node:assert/strict";
 * import { mllsRoundEstimator } from "./round_estimate.ts";
 * import { probRows } from "./probs.ts";
 *
 * const estimate = mllsRoundEstimator([0.5, 0.5]);
 * const q = estimate(probRows([[1, 0], [1, 0], [0, 1], [1, 0]], 2));
 * assert.ok(Math.abs(q[0] - 0.75) < 1e-6);
 * ```
 */
export function mllsRoundEstimator(
  reference: readonly number[],
  options: MllsOptions = {},
): RoundEstimator {
  return (probs) => mllsPrior([probs], reference, reference, options);
}
