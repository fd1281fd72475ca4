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

/** Mean focal loss with focusing exponent `gamma` (gamma 0 is cross-entropy). */
export function focalLoss(logits: Tensor, labels: Tensor, gamma = 2): Tensor {
  nonNegative("gamma", gamma);
  return scope(() => {
    const nll = perSampleCE(logits, labels);
    // p_y = exp(-nll); (1 - p_y) computed as -expm1(-nll) to stay accurate when p_y is near 1.
    const oneMinusP = nll.neg().expm1().neg();
    return oneMinusP.pow(gamma).mul(nll).mean();
  });
}
