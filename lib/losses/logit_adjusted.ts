/**
 * The logit-adjusted loss (Menon et al., ICLR 2021): cross-entropy on
 * f(x) + tau * log p_s. With tau = 1 it is prior CE.
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { checkHyper, checkLogits, positivePrior } from "./check.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";

/** Mean cross-entropy of `logits + tau log(sourcePrior)`. */
export function logitAdjustedLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
  tau = 1,
): Tensor {
  checkHyper("tau", tau, () => true, "must be a finite number");
  checkLogits(logits);
  if (tau !== 0) positivePrior(sourcePrior);
  return scope(() =>
    crossEntropyLoss(logits.add(priorTensor(sourcePrior, logits).log().mul(tau)), labels)
  );
}
