/**
 * Black-box shift estimation (Lipton, Wang & Smola 2018): with the confusion
 * of a fixed classifier on labelled source data, P(yhat | y), the target's
 * distribution of predictions mu(yhat) = sum_y P(yhat | y) p_t(y) is solved
 * for p_t; negatives are clipped and the result renormalised.
 *
 * The conditional form needs only P(yhat | y), which label shift leaves
 * unchanged, so the labelled data need not follow the source prior.
 *
 * @module
 */

import { type LabelsLike, labelTensor } from "../data/labels.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { solveLinear } from "./solve.ts";
import { checkScores } from "./check.ts";
import { InputError } from "../errors.ts";

/** The row-normalised confusion P(yhat = j | y = i) [C, C] of predictions `scores` [N, C]. */
export function confusionMatrix(scores: Tensor, labels: LabelsLike): Tensor {
  return scope(() => {
    const classes = scores.shape[1];
    const y = labelTensor(labels);
    const pred = scores.argmax(1);
    const joint = y.mul(classes).add(pred).bincount(classes * classes).reshape(classes, classes)
      .to("float64");
    return joint.div(joint.sum(1, true).clamp(1));
  });
}

/** What BBSE found. */
export interface BbseResult {
  /** The estimated target prior (sums to 1). */
  prior: number[];
  /** True when the confusion was singular and a ridge-regularised least-squares solve was used. */
  regularised: boolean;
}

/**
 * Estimates the target prior from target scores [N, C] (any classifier's
 * scores: only their argmax is used) and labelled source scores and labels.
 *
 * @example A perfect source classifier: the target's prediction mix
 * ```ts
 * import assert from "node:assert/strict";
 * import { bbsePrior } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using source = tensor([1, 0, 0, 1], [2, 2]); // predicts each labelled sample's class
 * using target = tensor([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.2, 0.8], [4, 2]); // 3 x class 0, 1 x class 1
 * const { prior } = bbsePrior(target, source, new Int32Array([0, 1]));
 * assert.deepEqual(prior.map((p) => Math.round(p * 1e6) / 1e6), [0.75, 0.25]);
 * ```
 */
export function bbsePrior(
  targetScores: Tensor,
  sourceScores: Tensor,
  sourceLabels: LabelsLike,
): BbseResult {
  checkScores(targetScores, "targetScores");
  checkScores(sourceScores, "sourceScores");
  const classes = targetScores.shape[1];
  if (sourceScores.shape[1] !== classes) {
    throw new InputError(
      "sourceScores",
      `BBSE: source scores have ${sourceScores.shape[1]} classes, target ${classes}`,
    );
  }
  return scope(() => {
    // a[j][i] = P(yhat = j | y = i): mu = a p_t.
    const a = confusionMatrix(sourceScores, sourceLabels).t().contiguous();
    const mu = targetScores.argmax(1).bincount(classes).to("float64").div(targetScores.shape[0]);
    let regularised = false;
    let w = solveLinear(a, mu);
    if (w === null) {
      // Some class is never predicted (or never labelled): least squares with a small ridge.
      regularised = true;
      const at = a.t();
      const eye = tensor(
        Float64Array.from(
          { length: classes * classes },
          (_, k) => (k % (classes + 1) === 0 ? 1e-6 : 0),
        ),
        [classes, classes],
      );
      w = solveLinear(at.matmul(a).add(eye), at.matmul(mu.unsqueeze(1)).squeeze(1), 0);
    }
    const clipped = w!.clamp(0);
    const total = clipped.sum().item();
    const prior = total > 0
      ? (clipped.div(total).toList())
      : new Array<number>(classes).fill(1 / classes);
    return { prior, regularised };
  });
}
