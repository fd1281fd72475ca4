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
 */
export function mllsRoundEstimator(
  reference: readonly number[],
  options: MllsOptions = {},
): RoundEstimator {
  return (probs) => mllsPrior([probs], reference, reference, options);
}
