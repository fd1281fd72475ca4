/**
 * Prior CE (LADE-CE; the Balanced Softmax objective): cross-entropy on
 * f(x) + log p_s, so that f models the posterior under a uniform prior.
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";
import { checkLogits, positivePrior } from "./check.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";

/** Mean cross-entropy of `logits + log(sourcePrior)` against `labels`. */
export function priorCELoss(logits: Tensor, labels: Tensor, sourcePrior: PriorLike): Tensor {
  checkLogits(logits);
  positivePrior(sourcePrior);
  return scope(() => crossEntropyLoss(logits.add(priorTensor(sourcePrior, logits).log()), labels));
}
