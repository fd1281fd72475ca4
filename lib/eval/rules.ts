/**
 * Prediction rules: how a trained model's logits f(x) become predictions for
 * a target prior p_t (design.md):
 * - `softmax`: argmax f;
 * - `pc_softmax` (post-compensation): argmax f - log p_s + log p_t;
 * - `lade` (LADE / prior CE models, whose f models the uniform-prior posterior): argmax f + log p_t.
 *
 * Which rules apply to a model, and what its logits model, is the training
 * method's entry in the method registry (lib/losses/methods.ts).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { methodByName, type PredictionRule } from "../losses/methods.ts";
import { priorTensor } from "../priors/source_prior.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/** The prediction rules (the registry's {@link PredictionRule}). */
export type Rule = PredictionRule;

/** All rules. */
export const RULES: readonly Rule[] = ["softmax", "pc_softmax", "lade"];

/** Whether a `method` model's logits model the uniform-prior posterior (trained on f + log p_s). */
function uniformLogits(method: string): boolean {
  return methodByName(method).logitPrior === "uniform";
}

/** The rules that apply to a model trained with `method` (an InputError for an unknown method). */
export function rulesForMethod(method: string): Rule[] {
  return [...methodByName(method).rules];
}

/** The prior that softmax(f) of a `method` model is calibrated to: p_s, or uniform for LADE-like models. */
export function calibratedPrior(method: string, sourcePrior: readonly number[]): number[] {
  return uniformLogits(method) ? sourcePrior.map(() => 1 / sourcePrior.length) : [...sourcePrior];
}

/**
 * Logits of the model's source posterior p(y | x) under the training prior:
 * f for softmax-trained models, f + log p_s for LADE-like ones (whose f models
 * the uniform-prior posterior). Calibration on labelled source data and EM
 * both work on this posterior.
 */
export function sourcePosteriorLogits(
  logits: Tensor,
  method: string,
  sourcePrior: readonly number[],
): Tensor {
  return scope(() =>
    uniformLogits(method)
      ? logits.add(priorTensor(sourcePrior, logits).clamp(1e-12).log())
      : logits.clone()
  );
}

/** Whether a rule uses the target prior. */
export function usesTargetPrior(rule: Rule): boolean {
  return rule !== "softmax";
}

/**
 * The adjusted logits of `rule`: their argmax is the prediction and their
 * softmax the rule's probabilities. Priors are clipped at 1e-12 before the log.
 */
export function adjustLogits(
  logits: Tensor,
  rule: Rule,
  sourcePrior: readonly number[],
  targetPrior: readonly number[],
): Tensor {
  return scope(() =>
    adjustLogitsByLogPrior(
      logits,
      rule,
      sourcePrior,
      priorTensor(targetPrior, logits).clamp(1e-12).log(),
    )
  );
}

/**
 * {@link adjustLogits} for many target priors at once: `logTarget` holds
 * log p_t and broadcasts against `logits` (e.g. [T, 1, C] against [T, n, C]:
 * a prior per round), so a stream's rounds are adjusted in one op.
 */
export function adjustLogitsByLogPrior(
  logits: Tensor,
  rule: Rule,
  sourcePrior: readonly number[],
  logTarget: Tensor,
): Tensor {
  return scope(() => {
    switch (rule) {
      case "softmax":
        return logits.clone();
      case "pc_softmax":
        return logits.sub(priorTensor(sourcePrior, logits).clamp(1e-12).log()).add(logTarget);
      case "lade":
        return logits.add(logTarget);
      default:
        throw new InputError("rule", `unknown prediction rule '${rule}'`);
    }
  });
}

/**
 * The rule that adapts a `method` model's predictions to a target prior:
 * the first of its rules that uses one (lade, pc_softmax). A multi-expert
 * method (SADE) has no rules of its own; its aggregated logits are
 * calibrated as its registry entry's `logitPrior` says, and take the rule
 * for such logits (lade for the uniform prior, pc_softmax for the source one).
 */
export function priorRule(method: string): Rule {
  const own = rulesForMethod(method).find(usesTargetPrior);
  if (own !== undefined) return own;
  return uniformLogits(method) ? "lade" : "pc_softmax";
}
