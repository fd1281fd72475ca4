/**
 * The one interface of the online methods (estimators and adapters). At
 * round t the classifier predicts with what the method says now (`prior()`,
 * or `layer()` for adapters that change the classifier itself); then the
 * method sees round t's unlabelled probabilities (`update`) and says what
 * round t + 1 will use. A method never sees a label.
 *
 * ```ts
 * import { FollowTheHistory, mllsRoundEstimator } from "../../mod.ts";
 * const fth = new FollowTheHistory(mllsRoundEstimator([0.5, 0.5]), [0.5, 0.5]);
 * fth.update([[0.9, 0.1], [0.8, 0.2]]); // round 0's two samples
 * const next = fth.prior(); // the prior for round 1
 * console.assert(next[0] > 0.5);
 * ```
 *
 * @module
 */

import type { ProbsLike } from "./probs.ts";

/** An online estimator of the label distribution, or an adapter of the classifier. */
export interface OnlineMethod {
  /** The method's name (`fth`, `flh-ftl`, ...). */
  readonly name: string;
  /** Classes. */
  readonly classes: number;
  /**
   * The label distribution to predict the next round with (before the first
   * update: the first round's); null for an adapter that changes the
   * classifier instead (see `layer`).
   */
  prior(): number[] | null;
  /**
   * Adapters only (UOGD, ATLAS): the classifier for the next round, an affine
   * layer on the model's logits z: prediction argmax W [z, 1], W of C rows
   * of C + 1 (row-major).
   */
  layer?(): Float64Array;
  /** Sees one round's unlabelled probabilities [n, C] (calibrated posteriors). */
  update(probs: ProbsLike): void;
  /** Frees native memory, if the method holds any. */
  dispose?(): void;
}
