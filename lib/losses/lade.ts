/**
 * LADE = Prior CE + alpha * LADER (Hong et al., CVPR 2021).
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { checkLogits, nonNegative, positivePrior } from "./check.ts";
import { laderLoss } from "./lader.ts";
import { priorCELoss } from "./prior_ce.ts";
import type { PriorLike } from "../priors/source_prior.ts";

/** Options of LADE. */
export interface LadeOptions {
  /** Weight of LADER (default 0.1, the paper's CIFAR-100-LT value). */
  alpha?: number;
  /** REMINE weight of LADER (default 0.1). */
  lambda?: number;
}

/** The LADE objective of a batch: a scalar tensor with gradients. */
export function ladeLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
  options: LadeOptions = {},
): Tensor {
  const alpha = nonNegative("alpha", options.alpha ?? 0.1);
  // Checked here too, so that the first error is about LADE's own arguments.
  checkLogits(logits);
  positivePrior(sourcePrior);
  return scope(() =>
    priorCELoss(logits, labels, sourcePrior).add(
      laderLoss(logits, labels, sourcePrior, { lambda: options.lambda }).mul(alpha),
    )
  );
}
