/**
 * LADER, the LAbel distribution DisEntangling Regulariser (Hong et al., CVPR
 * 2021), per design.md: per class c over the batch
 *   T1_c = sum_{i: y_i = c} f_c(x_i) / (n_c,batch + 1e-8)   (0 for a class absent from the batch)
 *   T2_c = logsumexp_i [ f_c(x_i) - log(p_s(c) + 1e-9) + log(1/C) ] - log N
 *   bound_c = T1_c - T2_c - lambda T2_c^2
 *   LADER = - sum_c p_s(c) bound_c
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { labelTensor } from "../data/labels.ts";
import { checkLogits, nonNegative, withLabelsInRange } from "./check.ts";
import { InputError } from "../errors.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";

/** Options of LADER. */
export interface LaderOptions {
  /** The REMINE regulariser weight lambda (default 0.1). */
  lambda?: number;
}

/**
 * The LADER regulariser of a batch: a scalar tensor with gradients.
 *
 * @example By hand: two samples, two classes, lambda 0
 * ```ts
 * import assert from "node:assert/strict";
 * import { laderLoss } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([1, 0, 0, 0], [2, 2]);
 * using labels = tensor(new BigInt64Array([0n, 1n]));
 * using loss = laderLoss(logits, labels, [0.5, 0.5], { lambda: 0 });
 * // Class 0: T1 = 1, T2 = log((e + 1) / 2); class 1: T1 = T2 = 0.
 * const expected = -0.5 * (1 - Math.log((Math.E + 1) / 2));
 * assert.ok(Math.abs(loss.item() - expected) < 1e-6);
 * ```
 */
export function laderLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
  options: LaderOptions = {},
): Tensor {
  const lambda = nonNegative("lambda", options.lambda ?? 0.1);
  checkLogits(logits);
  if (logits.ndim !== 2) {
    throw new InputError("logits", `must be 2-D [N, C], got shape [${logits.shape.join(", ")}]`);
  }
  return scope(() => {
    const [n, classes] = logits.shape;
    const ps = priorTensor(sourcePrior, logits);
    // One-hot membership [N, C] in the logits' dtype: the masked sum gives T1 in one matmul-free op.
    const member = withLabelsInRange(classes, labels, () => labelTensor(labels).oneHot(classes))
      .to(logits.dtype);
    const perClass = member.sum(0);
    const t1 = logits.mul(member).sum(0).div(perClass.add(1e-8));
    const shifted = logits.sub(ps.add(1e-9).log()).add(Math.log(1 / classes));
    const t2 = shifted.logsumexp(0).sub(Math.log(n));
    const bound = t1.sub(t2).sub(t2.square().mul(lambda));
    return bound.mul(ps).sum().neg();
  });
}
