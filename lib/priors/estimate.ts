/**
 * `estimateTargetPrior`: the one entry point to the target-prior estimators.
 *
 * @module
 */

import { UsageError } from "../cli/errors.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { PriorLike } from "../losses/source_prior.ts";
import { bbsePrior } from "./bbse.ts";
import { emPrior } from "./em.ts";

/** The estimators. */
export const ESTIMATORS: readonly string[] = ["em", "bbse"];

/** Options of `estimateTargetPrior`. */
export type EstimateOptions =
  | { method: "em"; maxIterations?: number; tolerance?: number }
  | {
    method: "bbse";
    /** Scores of labelled source data [M, C] (probabilities or logits: only the argmax counts). */
    sourceProbs: Tensor;
    /** Labels of that data. */
    sourceLabels: Tensor | Int32Array;
  };

/**
 * Estimates the class prior of unlabelled target data from its posteriors
 * `probs` [N, C], calibrated to `sourcePrior` (for EM; BBSE uses only the
 * argmax and the labelled source predictions). Returns a number array summing to 1.
 */
export function estimateTargetPrior(
  probs: Tensor,
  sourcePrior: PriorLike,
  options: EstimateOptions = { method: "em" },
): number[] {
  switch (options.method) {
    case "em":
      return emPrior(probs, sourcePrior, options).prior;
    case "bbse":
      if (!options.sourceProbs || !options.sourceLabels) {
        throw new UsageError("bbse needs labelled source predictions (sourceProbs, sourceLabels)");
      }
      return bbsePrior(probs, options.sourceProbs, options.sourceLabels).prior;
    default:
      throw new UsageError(
        `unknown prior estimator '${(options as { method: string }).method}' (expected em or bbse)`,
      );
  }
}
