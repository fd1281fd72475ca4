/**
 * Softmax cross-entropy, optionally with per-class weights (as
 * torch.nn.functional.cross_entropy: the weighted mean sum_i w_yi l_i / sum_i w_yi).
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { labelTensor } from "../data/labels.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";
import { checkLogits, withLabelsInRange } from "./check.ts";

/** Per-sample negative log-likelihood -log softmax(logits)_y, shape [N]. */
export function perSampleCE(logits: Tensor, labels: Tensor): Tensor {
  return withLabelsInRange(logits.shape[logits.ndim - 1], labels, () =>
    scope(() => {
      const y = labelTensor(labels).unsqueeze(1);
      return logits.logSoftmax(1).gather(1, y).squeeze(1).neg();
    }));
}

/**
 * Mean softmax cross-entropy of `logits` [N, C] against int labels [N]; with
 * `weight` (length C) the weighted mean of torch's `cross_entropy(weight=)`.
 *
 * @example -log of the true class's probability
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossEntropyLoss } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * // Logits [log 3, 0]: softmax [3/4, 1/4].
 * using logits = tensor([Math.log(3), 0], [1, 2]);
 * using labels = tensor(new BigInt64Array([0n]));
 * using loss = crossEntropyLoss(logits, labels);
 * assert.ok(Math.abs(loss.item() - -Math.log(0.75)) < 1e-6);
 * ```
 */
export function crossEntropyLoss(logits: Tensor, labels: Tensor, weight?: PriorLike): Tensor {
  checkLogits(logits);
  return scope(() => {
    const nll = perSampleCE(logits, labels);
    if (weight === undefined) return nll.mean();
    const w = priorTensor(weight, logits, "weight").gather(0, labelTensor(labels));
    return nll.mul(w).sum().div(w.sum());
  });
}
