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

/**
 * The LADE objective of a batch: a scalar tensor with gradients.
 *
 * @example A training step's loss and gradient
 * ```ts
 * import assert from "node:assert/strict";
 * import { ladeLoss, priorCELoss } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([2, 0.5, -1, 0.1, 1.2, 0.3], [2, 3]);
 * logits.requiresGrad = true;
 * using labels = tensor(new BigInt64Array([0n, 1n]));
 * const prior = [0.7, 0.2, 0.1];
 * using loss = ladeLoss(logits, labels, prior, { alpha: 0.1, lambda: 0.1 });
 * loss.backward();
 * using grad = logits.grad!;
 * assert.deepEqual(grad.shape, [2, 3]);
 * // alpha 0 leaves the prior cross-entropy alone.
 * using plain = ladeLoss(logits, labels, prior, { alpha: 0 });
 * using ce = priorCELoss(logits, labels, prior);
 * assert.ok(Math.abs(plain.item() - ce.item()) < 1e-6);
 * ```
 */
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
