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
import { checkLogits } from "./check.ts";

/** Per-sample negative log-likelihood -log softmax(logits)_y, shape [N]. */
export function perSampleCE(logits: Tensor, labels: Tensor): Tensor {
  return scope(() => {
    const y = labelTensor(labels).unsqueeze(1);
    return logits.logSoftmax(1).gather(1, y).squeeze(1).neg();
  });
}

/**
 * Mean softmax cross-entropy of `logits` [N, C] against int labels [N]; with
 * `weight` (length C) the weighted mean of torch's `cross_entropy(weight=)`.
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
