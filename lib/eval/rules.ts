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
import { countsToPrior, priorTensor } from "../priors/source_prior.ts";
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

/** Whether every entry of `prior` is the same (a uniform prior, whose log is a constant). */
function isUniform(prior: readonly number[]): boolean {
  return prior.every((v) => v === prior[0]);
}

/**
 * The prior a classifier was effectively trained under: the class prior that
 * softmax(f) of its logits is calibrated to, and what every rule compensates.
 * A `method` model trained on batches drawn from `sampling` (default: the
 * source prior p_s of `trainCounts`, a shuffled epoch):
 * - softmax-like methods (cross-entropy on f): `sampling` itself, so uniform
 *   for a class-balanced sampler (cRT) and the square-root prior for `sqrt`;
 * - LADE-like methods (cross-entropy on f + log p_s): sampling / p_s,
 *   normalised: uniform for shuffled epochs.
 * A second stage that rebalances the classifier (tau-norm, LWS) records a
 * uniform prior instead (see lib/run/train_prior.ts).
 */
export function logitPriorOf(
  method: string,
  trainCounts: readonly number[],
  sampling?: readonly number[],
): number[] {
  const ps = countsToPrior(trainCounts);
  const q = sampling ?? ps;
  if (!uniformLogits(method)) return [...q];
  const ratio = q.map((v, c) => v / ps[c]);
  const total = ratio.reduce((a, b) => a + b, 0);
  return ratio.map((v) => v / total);
}

/**
 * The prior a model's predictions were made under: the one it records
 * (`logitPrior`, see lib/run/train_prior.ts), else its method's on shuffled
 * epochs of `trainCounts` (logits made elsewhere).
 */
export function modelLogitPrior(
  p: { method: string; trainCounts: readonly number[]; logitPrior?: readonly number[] },
): number[] {
  if (p.logitPrior === undefined) return logitPriorOf(p.method, p.trainCounts);
  if (p.logitPrior.length !== p.trainCounts.length) {
    throw new InputError(
      "logitPrior",
      `lists ${p.logitPrior.length} classes but the training counts ${p.trainCounts.length}`,
    );
  }
  return [...p.logitPrior];
}

/**
 * `logits` moved from the prior `from` they are calibrated to onto the prior
 * `to`: f - log from + log to. A uniform `from`'s log is a constant, which
 * changes neither argmax nor softmax, and is left out (so that LADE's rule
 * computes exactly f + log p_t, as it always did).
 */
function movePrior(logits: Tensor, from: readonly number[], to: readonly number[]): Tensor {
  return scope(() => {
    const base = isUniform(from)
      ? logits
      : logits.sub(priorTensor(from, logits).clamp(1e-12).log());
    return base.add(priorTensor(to, logits).clamp(1e-12).log());
  });
}

/**
 * Logits of the model's source posterior p(y | x) under the source prior
 * p_s (`sourcePrior`), from logits calibrated to `logitPrior` (see
 * {@link logitPriorOf}): f for softmax models trained on shuffled epochs,
 * f + log p_s for LADE-like ones. Calibration on labelled source data and EM
 * both work on this posterior.
 */
export function sourcePosteriorLogits(
  logits: Tensor,
  logitPrior: readonly number[],
  sourcePrior: readonly number[],
): Tensor {
  const same = logitPrior.length === sourcePrior.length &&
    logitPrior.every((v, c) => v === sourcePrior[c]);
  return same ? logits.clone() : movePrior(logits, logitPrior, sourcePrior);
}

/** Whether a rule uses the target prior. */
export function usesTargetPrior(rule: Rule): boolean {
  return rule !== "softmax";
}

/**
 * The adjusted logits of `rule`: their argmax is the prediction and their
 * softmax the rule's probabilities. `logitPrior` is the prior the model was
 * effectively trained under ({@link logitPriorOf}; p_s for softmax trained on
 * shuffled epochs, uniform for LADE): `pc_softmax` is f - log logitPrior +
 * log p_t, and `lade` is f + log p_t for a uniform logitPrior (the same
 * formula: a uniform prior's log is a constant). Priors are clipped at 1e-12
 * before the log.
 */
export function adjustLogits(
  logits: Tensor,
  rule: Rule,
  logitPrior: readonly number[],
  targetPrior: readonly number[],
): Tensor {
  return scope(() =>
    adjustLogitsByLogPrior(
      logits,
      rule,
      logitPrior,
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
  logitPrior: readonly number[],
  logTarget: Tensor,
): Tensor {
  return scope(() => {
    switch (rule) {
      case "softmax":
        return logits.clone();
      case "pc_softmax":
        return logits.sub(priorTensor(logitPrior, logits).clamp(1e-12).log()).add(logTarget);
      case "lade":
        // Logits that model the uniform-prior posterior take log p_t as they
        // are; others (a second stage's) lose their own prior first.
        return isUniform(logitPrior)
          ? logits.add(logTarget)
          : logits.sub(priorTensor(logitPrior, logits).clamp(1e-12).log()).add(logTarget);
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
