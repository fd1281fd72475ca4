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

/**
 * Mean cross-entropy of `logits + tau log(sourcePrior)`.
 *
 * @example The rare class's loss grows with tau
 * ```ts
 * import assert from "node:assert/strict";
 * import { logitAdjustedLoss } from "./mod.ts";
 * import { zeros, tensor } from "../torch/mod.ts";
 *
 * using logits = zeros([1, 2]);
 * using rare = tensor(new BigInt64Array([1n]));
 * using loss = logitAdjustedLoss(logits, rare, [0.75, 0.25], 1);
 * assert.ok(Math.abs(loss.item() - Math.log(4)) < 1e-6); // -log 0.25
 * ```
 */
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
