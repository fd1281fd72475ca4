/**
 * Focal loss (Lin et al., ICCV 2017), softmax form: mean of
 * -(1 - p_y)^gamma log p_y.
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { nonNegative } from "./check.ts";
import { perSampleCE } from "./cross_entropy.ts";

/**
 * Mean focal loss with focusing exponent `gamma` (gamma 0 is cross-entropy).
 *
 * @example The cross-entropy scaled by (1 - p)^gamma
 * ```ts
 * import assert from "node:assert/strict";
 * import { focalLoss } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([Math.log(3), 0], [1, 2]); // p(class 0) = 3/4
 * using labels = tensor(new BigInt64Array([0n]));
 * using loss = focalLoss(logits, labels, 2);
 * assert.ok(Math.abs(loss.item() - 0.25 ** 2 * -Math.log(0.75)) < 1e-6);
 * ```
 */
export function focalLoss(logits: Tensor, labels: Tensor, gamma = 2): Tensor {
  nonNegative("gamma", gamma);
  return scope(() => {
    const nll = perSampleCE(logits, labels);
    // p_y = exp(-nll); (1 - p_y) computed as -expm1(-nll) to stay accurate when p_y is near 1.
    const oneMinusP = nll.neg().expm1().neg();
    return oneMinusP.pow(gamma).mul(nll).mean();
  });
}
