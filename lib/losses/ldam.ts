/**
 * LDAM (Cao et al., NeurIPS 2019): cross-entropy on s * (f(x) - m_y e_y)
 * with per-class margins m_c proportional to n_c^(-1/4), the largest equal to
 * `maxMargin`; with deferred re-weighting (DRW) the class-balanced weights
 * (beta 0.9999) apply from `drwEpoch` on, plain mean before.
 *
 * @module
 */

import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { withLabelsInRange } from "./check.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";
import { labelTensor } from "../data/labels.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";

/** The LDAM margins of class counts: C * n_c^(-1/4), scaled so the largest is `maxMargin`. */
export function ldamMargins(counts: readonly number[], maxMargin = 0.5): number[] {
  const raw = counts.map((n) => 1 / Math.sqrt(Math.sqrt(n)));
  const top = Math.max(...raw);
  return raw.map((m) => (m * maxMargin) / top);
}

/**
 * The LDAM loss of a batch, optionally class-weighted (`weight`, length C).
 *
 * @example The true class's logit lowered by its margin
 * ```ts
 * import assert from "node:assert/strict";
 * import { ldamLoss } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * // 0.5 - margin 0.5 = 0: equal logits, loss log 2 (scale 1).
 * using logits = tensor([0.5, 0], [1, 2]);
 * using labels = tensor(new BigInt64Array([0n]));
 * using loss = ldamLoss(logits, labels, [0.5, 0.5], 1);
 * assert.ok(Math.abs(loss.item() - Math.log(2)) < 1e-6);
 * ```
 */
export function ldamLoss(
  logits: Tensor,
  labels: Tensor,
  margins: PriorLike,
  scale = 30,
  weight?: PriorLike,
): Tensor {
  return scope(() => {
    const classes = logits.shape[1];
    const y = labelTensor(labels);
    // m_y on the true class only: the one-hot rows times the margin vector.
    const m = withLabelsInRange(classes, y, () => y.oneHot(classes)).to(logits.dtype)
      .mul(priorTensor(margins, logits, "margins"));
    return crossEntropyLoss(logits.sub(m).mul(scale), y, weight);
  });
}
