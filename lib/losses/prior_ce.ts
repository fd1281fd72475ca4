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

/**
 * Mean cross-entropy of `logits + log(sourcePrior)` against `labels`.
 *
 * @example Cross-entropy on logits + log prior
 * ```ts
 * import assert from "node:assert/strict";
 * import { priorCELoss } from "./mod.ts";
 * import { tensor, zeros } from "../torch/mod.ts";
 *
 * using logits = zeros([1, 2]);
 * using rare = tensor(new BigInt64Array([1n]));
 * using loss = priorCELoss(logits, rare, [0.75, 0.25]);
 * assert.ok(Math.abs(loss.item() - Math.log(4)) < 1e-6); // -log 0.25
 * ```
 */
export function priorCELoss(logits: Tensor, labels: Tensor, sourcePrior: PriorLike): Tensor {
  checkLogits(logits);
  positivePrior(sourcePrior);
  return scope(() => crossEntropyLoss(logits.add(priorTensor(sourcePrior, logits).log()), labels));
}
