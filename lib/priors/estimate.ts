/**
 * `estimateTargetPrior`: the one entry point to the target-prior estimators.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { LabelsLike } from "../data/labels.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { PriorLike } from "./source_prior.ts";
import { bbsePrior } from "./bbse.ts";
import { calibratedEmPrior, CALIBRATION_KINDS, type CalibrationKind } from "./calibration.ts";
import { emPrior } from "./em.ts";
import { checkProbabilities, checkScores } from "./check.ts";

export { checkScores };
import { scope } from "../torch/memory.ts";

/** The estimators. */
export const ESTIMATORS: readonly string[] = ["em", "bbse"];

/** Options of `estimateTargetPrior`. */
export type EstimateOptions =
  | {
    method: "em";
    maxIterations?: number;
    tolerance?: number;
    /**
     * Calibrate on labelled source data first (Alexandari et al. 2020):
     * "bcts" (the default when `sourceProbs` and `sourceLabels` are given),
     * "ts", or "none" for plain EM. Without source data EM runs plain.
     */
    calibration?: CalibrationKind | "none";
    /** Posteriors of labelled source data [M, C] from the same model as `probs`. */
    sourceProbs?: Tensor;
    /** Labels of that data. */
    sourceLabels?: LabelsLike;
  }
  | {
    method: "bbse";
    /** Scores of labelled source data [M, C] (probabilities or logits: only the argmax counts). */
    sourceProbs: Tensor;
    /** Labels of that data. */
    sourceLabels: LabelsLike;
  };

/**
 * Estimates the class prior of unlabelled target data from its posteriors
 * `probs` [N, C], calibrated to `sourcePrior` (for EM; BBSE uses only the
 * argmax and the labelled source predictions). EM given labelled source
 * posteriors first recalibrates both on them (BCTS by default) and then refers
 * to the source labels' class frequencies instead of `sourcePrior`.
 * Returns a number array summing to 1.
 *
 * @example EM on unlabelled posteriors
 * ```ts
 * import assert from "node:assert/strict";
 * import { estimateTargetPrior } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using probs = tensor([1, 0, 1, 0, 1, 0, 0, 1], [4, 2]);
 * const prior = estimateTargetPrior(probs, [0.5, 0.5], { method: "em" });
 * assert.ok(Math.abs(prior[0] - 0.75) < 1e-6 && Math.abs(prior[0] + prior[1] - 1) < 1e-12);
 * ```
 */
export function estimateTargetPrior(
  probs: Tensor,
  sourcePrior: PriorLike,
  options: EstimateOptions = { method: "em" },
): number[] {
  checkScores(probs, "probs");
  if (options.sourceProbs !== undefined) checkScores(options.sourceProbs, "sourceProbs");
  switch (options.method) {
    case "em": {
      const kind = options.calibration ?? "bcts";
      if (kind !== "none" && !CALIBRATION_KINDS.includes(kind)) {
        throw new InputError(
          "calibration",
          `unknown calibration '${kind}' (expected none, ts or bcts)`,
        );
      }
      checkProbabilities(probs, "probs");
      if (kind === "none" || !options.sourceProbs || !options.sourceLabels) {
        return emPrior(probs, sourcePrior, options).prior;
      }
      const { sourceProbs, sourceLabels } = options;
      // log p is a logit vector of p (softmax(log p) = p); the clamp keeps zeros finite.
      return scope(() =>
        calibratedEmPrior(
          probs.to("float64").clamp(1e-300).log(),
          sourceProbs.to("float64").clamp(1e-300).log(),
          sourceLabels,
          { ...options, kind },
        ).prior
      );
    }
    case "bbse":
      if (!options.sourceProbs || !options.sourceLabels) {
        throw new InputError(
          "sourceProbs",
          "bbse needs labelled source predictions (sourceProbs and sourceLabels)",
        );
      }
      return bbsePrior(probs, options.sourceProbs, options.sourceLabels).prior;
    default:
      throw new InputError(
        "method",
        `unknown prior estimator '${(options as { method: string }).method}' (expected em or bbse)`,
      );
  }
}
