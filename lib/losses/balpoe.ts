/**
 * BalPoE's expert losses (Sanchez Aimar et al., CVPR 2023, "Balanced
 * Product of Calibrated Experts for Long-Tailed Recognition"; the official
 * code is emasa/BalPoE-CalibratedLT, whose model/loss.py `BSExpertLoss`
 * these follow). A multi-expert network returns the logits of its E experts
 * side by side, [N, E * C]; expert e is trained with the logit-adjusted
 * cross-entropy on f_e + lambda_e * log(p_s + 1e-9), and the loss is the
 * experts' mean.
 *
 * What lambda does: that loss fits f_e + lambda_e log p_s to the source
 * posterior, so f_e models the posterior under the target prior
 * p_s^(1 - lambda_e) (normalised): lambda 0 is plain softmax (the source
 * mix), 1 is balanced softmax (uniform), 2 favours the tail as much as 0
 * favours the head. The product of the experts (their logits averaged)
 * models p_s^(1 - mean lambda): with lambdas whose mean is 1 it is
 * balanced, and a known or estimated target prior p_t is applied by adding
 * log p_t to it (the `lade` rule, lib/eval/rules.ts).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { checkHyper } from "./check.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";
import { splitExperts } from "./sade.ts";

/** BalPoE's default lambdas (its CIFAR configs' tau_list): mean 1, the balanced product. */
export const BALPOE_LAMBDAS: readonly number[] = [0, 1, 2];

/** What the official loss adds to the prior before its log. */
const LOG_EPS = 1e-9;

/** Checks `lambdas` (finite numbers, one per expert); an InputError naming `expertLambdas`. */
export function checkExpertLambdas(lambdas: readonly number[], experts?: number): void {
  if (!Array.isArray(lambdas) || lambdas.length === 0) {
    throw new InputError("expertLambdas", "must list one lambda per expert");
  }
  for (const l of lambdas) checkHyper("expertLambdas", l, () => true, "must be finite numbers");
  if (experts !== undefined && lambdas.length !== experts) {
    throw new InputError(
      "expertLambdas",
      `the multi-expert networks have ${experts} experts: give ${experts} lambdas, got ${lambdas.length}`,
    );
  }
}

/**
 * BalPoE's training loss on E experts' logits [N, E * C] with one lambda per
 * expert: the mean over the experts of the cross-entropy of
 * f_e + lambda_e log(p_s + 1e-9).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "../torch/create.ts";
 * import { balpoeLoss } from "./balpoe.ts";
 * // Two experts, two classes, all logits 0 and a balanced prior: each
 * // expert's cross-entropy is log 2, whatever its lambda.
 * using logits = tensor(new Float32Array(4), [1, 4]);
 * using labels = tensor(new BigInt64Array([1n]), [1]);
 * using loss = balpoeLoss(logits, labels, [0.5, 0.5], [0, 2]);
 * assert.ok(Math.abs(loss.item() - Math.log(2)) < 1e-6);
 * ```
 */
export function balpoeLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
  lambdas: readonly number[] = BALPOE_LAMBDAS,
): Tensor {
  checkExpertLambdas(lambdas);
  return scope(() => {
    const experts = splitExperts(logits, lambdas.length);
    const logPrior = priorTensor(sourcePrior, experts[0]).add(LOG_EPS).log();
    let total: Tensor | undefined;
    experts.forEach((f, e) => {
      const term = crossEntropyLoss(f.add(logPrior.mul(lambdas[e])), labels);
      total = total === undefined ? term : total.add(term);
    });
    return total!.div(lambdas.length);
  });
}
