/**
 * A loss on mixed targets (mixup, CutMix: lib/data/mix.ts): a batch whose
 * sample i is lambda parts of a sample labelled y_i and 1 - lambda parts of
 * one labelled y_perm(i) takes lambda L(f, y) + (1 - lambda) L(f, y[perm]),
 * as mixup's and BalPoE's official code does for every loss.
 *
 * For the cross-entropy family (softmax, prior CE, logit-adjusted, SADE's
 * and BalPoE's expert losses) this is exactly the cross-entropy with the soft
 * targets lambda e_y + (1 - lambda) e_y[perm], the loss being linear in the
 * target. For LADER (LADE's second term) it is what the soft targets give
 * too, and the choice is sound for that reason: LADER's only label-dependent
 * part is T1_c, the mean of f_c over the samples of class c; with soft
 * targets w_ic the natural estimate is sum_i w_ic f_c(x_i) / sum_i w_ic, and
 * since y[perm] is a permutation of y (one lambda per batch), sum_i w_ic is
 * n_c, the class's count in the batch, and that estimate is
 * lambda T1_c(y) + (1 - lambda) T1_c(y[perm]). The bound is linear in T1, so
 * LADER of the soft targets is the lambda-mix of the two LADERs (a test
 * checks the equality). Focal loss and LDAM are not linear in the target;
 * they take the same mix of their two values, as the mixup literature does.
 *
 * @module
 */

import type { LossContext, LossFn } from "./methods.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/** The second labels of a mixed batch and the weight of the first. */
export interface MixedTargets {
  /** labels[perm], int64 [N]. */
  labelsB: Tensor;
  /** The first labels' weight lambda: a number or a 0-d tensor (on the logits' device). */
  lambda: number | Tensor;
}

/** lambda loss(logits, labels) + (1 - lambda) loss(logits, mix.labelsB). */
export function mixedLoss(
  loss: LossFn,
  logits: Tensor,
  labels: Tensor,
  mix: MixedTargets,
  ctx: LossContext,
): Tensor {
  return scope(() => {
    const a = loss(logits, labels, ctx);
    const b = loss(logits, mix.labelsB, ctx);
    const lam = mix.lambda;
    return typeof lam === "number"
      ? a.mul(lam).add(b.mul(1 - lam))
      : a.mul(lam.to(a.device, a.dtype)).add(b.mul(lam.to(a.device, a.dtype).rsub(1)));
  });
}
