/**
 * lib/losses: the training objectives (softmax CE, prior CE, LADER, LADE and
 * the baselines) and `createLoss`, the factory the trainer uses.
 *
 * @module
 */

import { UsageError } from "../cli/errors.ts";
import type { Tensor } from "../torch/tensor.ts";
import { classBalancedWeights } from "./class_balanced.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";
import { focalLoss } from "./focal.ts";
import { ladeLoss } from "./lade.ts";
import { ldamLoss, ldamMargins } from "./ldam.ts";
import { logitAdjustedLoss } from "./logit_adjusted.ts";
import { priorCELoss } from "./prior_ce.ts";
import { countsToPrior } from "./source_prior.ts";

export { classBalancedWeights } from "./class_balanced.ts";
export { crossEntropyLoss, perSampleCE } from "./cross_entropy.ts";
export { focalLoss } from "./focal.ts";
export { ladeLoss, type LadeOptions } from "./lade.ts";
export { laderLoss, type LaderOptions } from "./lader.ts";
export { ldamLoss, ldamMargins } from "./ldam.ts";
export { logitAdjustedLoss } from "./logit_adjusted.ts";
export { priorCELoss } from "./prior_ce.ts";
export { countsToPrior, type PriorLike, priorTensor } from "./source_prior.ts";

/** Where training is, for losses that change over epochs (deferred re-weighting). */
export interface LossContext {
  /** 0-based epoch. */
  epoch: number;
  /** Total epochs of the run. */
  epochs: number;
}

/** A training objective: a scalar Tensor with gradients. */
export type LossFn = (logits: Tensor, labels: Tensor, ctx: LossContext) => Tensor;

/** Hyper-parameters of the losses; each method reads the ones it needs. */
export interface LossOptions {
  /** Per-class training counts n_c (the source prior is n_c / sum n). */
  trainCounts: number[];
  /** LADE: weight of LADER. */
  alpha?: number;
  /** LADE/LADER: REMINE regulariser weight. */
  lambda?: number;
  /** Logit-adjusted loss: temperature of log p_s. */
  tau?: number;
  /** Focal loss: focusing exponent. */
  gamma?: number;
  /** Class-balanced / DRW: beta of the effective number (1 - beta^n) / (1 - beta). */
  beta?: number;
  /** LDAM: largest margin (the rarest class's). */
  maxMargin?: number;
  /** LDAM: logit scale s. */
  scale?: number;
  /** LDAM-DRW: epoch (0-based) from which the class-balanced weights apply. */
  drwEpoch?: number;
}

/** The training methods `createLoss` knows. */
export const METHODS: readonly string[] = [
  "softmax",
  "prior-ce",
  "lade",
  "logit-adjusted",
  "focal",
  "class-balanced",
  "ldam-drw",
];

function checkCounts(counts: readonly number[]): void {
  if (counts.length < 2) throw new UsageError("trainCounts must list at least two classes");
  for (const n of counts) {
    if (!Number.isFinite(n) || n <= 0) {
      throw new UsageError(`trainCounts must be positive numbers, got ${n}`);
    }
  }
}

function checkOption(name: string, value: number | undefined, ok: (v: number) => boolean): void {
  if (value !== undefined && !(Number.isFinite(value) && ok(value))) {
    throw new UsageError(`invalid ${name}: ${value}`);
  }
}

/**
 * The loss of `method` with its hyper-parameters; throws UsageError on an
 * unknown method or an invalid value. Defaults: alpha 0.1, lambda 0.1, tau 1,
 * gamma 2, beta 0.9999, maxMargin 0.5, scale 30, drwEpoch = floor(0.8 epochs)
 * (160 of 200, as LDAM-DRW).
 */
export function createLoss(method: string, options: LossOptions): LossFn {
  checkCounts(options.trainCounts);
  checkOption("alpha", options.alpha, (v) => v >= 0);
  checkOption("lambda", options.lambda, (v) => v >= 0);
  checkOption("tau", options.tau, () => true);
  checkOption("gamma", options.gamma, (v) => v >= 0);
  checkOption("beta", options.beta, (v) => v >= 0 && v < 1);
  checkOption("maxMargin", options.maxMargin, (v) => v >= 0);
  checkOption("scale", options.scale, (v) => v > 0);
  checkOption("drwEpoch", options.drwEpoch, (v) => v >= 0);
  const counts = [...options.trainCounts];
  const prior = countsToPrior(counts);
  switch (method) {
    case "softmax":
      return (logits, labels) => crossEntropyLoss(logits, labels);
    case "prior-ce":
      return (logits, labels) => priorCELoss(logits, labels, prior);
    case "lade": {
      const opts = { alpha: options.alpha ?? 0.1, lambda: options.lambda ?? 0.1 };
      return (logits, labels) => ladeLoss(logits, labels, prior, opts);
    }
    case "logit-adjusted": {
      const tau = options.tau ?? 1;
      return (logits, labels) => logitAdjustedLoss(logits, labels, prior, tau);
    }
    case "focal": {
      const gamma = options.gamma ?? 2;
      return (logits, labels) => focalLoss(logits, labels, gamma);
    }
    case "class-balanced": {
      const weights = classBalancedWeights(counts, options.beta ?? 0.9999);
      return (logits, labels) => crossEntropyLoss(logits, labels, weights);
    }
    case "ldam-drw": {
      const margins = ldamMargins(counts, options.maxMargin ?? 0.5);
      const weights = classBalancedWeights(counts, options.beta ?? 0.9999);
      const scale = options.scale ?? 30;
      return (logits, labels, ctx) => {
        const drwEpoch = options.drwEpoch ?? Math.floor(ctx.epochs * 0.8);
        return ldamLoss(
          logits,
          labels,
          margins,
          scale,
          ctx.epoch >= drwEpoch ? weights : undefined,
        );
      };
    }
    default:
      throw new UsageError(`unknown method '${method}' (expected one of: ${METHODS.join(", ")})`);
  }
}
