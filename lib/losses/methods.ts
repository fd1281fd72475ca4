/**
 * The training methods, in one registry: each method's name, its loss, what
 * its trained logits model (the logit prior) and so which prediction rules
 * apply, and a line of help. The trainer (`createLoss`), the configuration's
 * validation, the command line's help and the evaluation's rules all read
 * it, so adding a method is one entry here plus its test.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { countsToPrior } from "../priors/source_prior.ts";
import { tensor } from "../torch/create.ts";
import type { Device } from "../torch/device.ts";
import type { Tensor } from "../torch/tensor.ts";
import { classBalancedWeights } from "./class_balanced.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";
import { focalLoss } from "./focal.ts";
import { ladeLoss } from "./lade.ts";
import { ldamLoss, ldamMargins } from "./ldam.ts";
import { logitAdjustedLoss } from "./logit_adjusted.ts";
import { priorCELoss } from "./prior_ce.ts";
import { expertMean, inversePrior, SADE_EXPERTS, SADE_TAU, sadeLoss } from "./sade.ts";
import { BALPOE_LAMBDAS, balpoeLoss, checkExpertLambdas } from "./balpoe.ts";

/** Where training is, for losses that change over epochs (deferred re-weighting). */
export interface LossContext {
  /** 0-based epoch. */
  epoch: number;
  /** Total epochs of the run. */
  epochs: number;
}

/** A training objective: a scalar Tensor with gradients. */
export type LossFn = (logits: Tensor, labels: Tensor, ctx: LossContext) => Tensor;

/**
 * A loss made by `createLoss`: a LossFn whose per-class constants (priors,
 * weights, margins) were put on the training device once, which frees them
 * on `dispose()`. `phase(ctx)` names the part of training the loss is in;
 * it changes only where the loss itself changes (LDAM-DRW's re-weighting),
 * so that a captured training step is captured again exactly then.
 */
export interface Loss extends LossFn {
  /** Frees the constants on the device. */
  dispose(): void;
  /** Frees the constants at the end of a `using` block. */
  [Symbol.dispose](): void;
  /** The part of training `ctx` is in, for this loss ("" when it never changes). */
  phase(ctx: LossContext): string;
}

/** Hyper-parameters of the losses; each method reads the ones it needs. */
export interface LossOptions {
  /** Per-class training counts n_c (the source prior is n_c / sum n). */
  trainCounts: number[];
  /** LADE: weight of LADER. */
  alpha?: number;
  /** LADE/LADER: REMINE regulariser weight. */
  lambda?: number;
  /** Logit-adjusted loss: temperature of log p_s; SADE: weight of log p_inv (default 2). */
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
  /** BalPoE: one logit-adjustment lambda per expert (default 0, 1, 2). */
  expertLambdas?: readonly number[];
  /** Where the logits will be: the per-class constants are put there once (default cpu). */
  device?: Device;
}

/**
 * A prediction rule: how a trained model's logits f(x) become predictions
 * for a target prior p_t (see lib/eval/rules.ts):
 * - `softmax`: argmax f;
 * - `pc_softmax` (post-compensation): argmax f - log p_s + log p_t;
 * - `lade`: argmax f + log p_t, for logits that model the uniform-prior posterior.
 */
export type PredictionRule = "softmax" | "pc_softmax" | "lade";

/**
 * The class prior that softmax(f) of a trained model is calibrated to:
 * `source` (p_s, plain cross-entropy and its re-weighted variants) or
 * `uniform` (methods trained on f + log p_s, whose f models the
 * uniform-prior posterior).
 */
export type LogitPrior = "source" | "uniform";

/**
 * How the experts of a multi-expert method predict together:
 * - `aggregation` (SADE): the evaluation reads every expert and learns
 *   their test-time aggregation (lib/eval/aggregation.ts); no rules apply;
 * - `product` (BalPoE): the experts' logits averaged (the product of their
 *   softmax distributions, renormalised) are the model's logits, to which
 *   the method's `rules` apply as to a single network's.
 */
export type ExpertCombination = "aggregation" | "product";

/**
 * Configuration values a method brings with it, applied beneath the recipe
 * file and the flags (which win): SADE's and BalPoE's cosine heads, BalPoE's
 * mixup. Keys as the configuration spells them (lib/config).
 */
export interface MethodDefaults {
  /** model.head and model.scale (SADE's and BalPoE's cosine heads, scale 30). */
  model?: { head?: "linear" | "cosine"; scale?: number };
  /** train.mixup (BalPoE's calibration). */
  train?: { mixup?: number };
}

/** One training method. */
export interface Method {
  /** The name in configs and on the command line (`lade`, `prior-ce`). */
  readonly name: string;
  /** One line for help texts. */
  readonly help: string;
  /** What softmax of the trained logits is calibrated to. */
  readonly logitPrior: LogitPrior;
  /** The prediction rules that apply to its models, the rule without target prior first. */
  readonly rules: readonly PredictionRule[];
  /**
   * The loss with its hyper-parameters (defaults filled in); `prior` is
   * `countsToPrior(options.trainCounts)` on the training device, and
   * `constant` puts other per-class values there (freed with the loss).
   */
  readonly create: (
    options: LossOptions,
    prior: Tensor,
    constant: (values: readonly number[]) => Tensor,
  ) => LossFn;
  /** The part of training (see Loss.phase); absent when the loss never changes. */
  readonly phase?: (options: LossOptions, ctx: LossContext) => string;
  /**
   * Experts of the network the method trains (SADE: 3; absent: 1). Its
   * logits are the experts' side by side, [N, experts * C], its networks the
   * multi-expert architectures, and evaluation reports each expert and their
   * aggregations (lib/eval/aggregation.ts) instead of `rules`, which is empty.
   */
  readonly experts?: number;
  /** How its experts predict together (multi-expert methods only; default aggregation). */
  readonly combine?: ExpertCombination;
  /** Configuration values it brings unless the recipe or the flags set them. */
  readonly defaults?: MethodDefaults;
}

const SOURCE_RULES: readonly PredictionRule[] = ["softmax", "pc_softmax"];
const UNIFORM_RULES: readonly PredictionRule[] = ["lade"];

/** Every training method, in the order help texts list them. */
export const METHOD_REGISTRY: readonly Method[] = [
  {
    name: "softmax",
    help: "cross-entropy on f(x) (predict with softmax or PC softmax)",
    logitPrior: "source",
    rules: SOURCE_RULES,
    create: () => (logits, labels) => crossEntropyLoss(logits, labels),
  },
  {
    name: "prior-ce",
    help: "cross-entropy on f(x) + log p_s (LADE-CE, Balanced Softmax)",
    logitPrior: "uniform",
    rules: UNIFORM_RULES,
    create: (_, prior) => (logits, labels) => priorCELoss(logits, labels, prior),
  },
  {
    name: "lade",
    help: "prior CE + alpha * LADER (alpha 0.1, lambda 0.1 unless set)",
    logitPrior: "uniform",
    rules: UNIFORM_RULES,
    create: (o, prior) => {
      const opts = { alpha: o.alpha ?? 0.1, lambda: o.lambda ?? 0.1 };
      return (logits, labels) => ladeLoss(logits, labels, prior, opts);
    },
  },
  {
    name: "logit-adjusted",
    help: "cross-entropy on f(x) + tau * log p_s (Menon et al.; tau 1)",
    logitPrior: "uniform",
    rules: UNIFORM_RULES,
    create: (o, prior) => {
      const tau = o.tau ?? 1;
      return (logits, labels) => logitAdjustedLoss(logits, labels, prior, tau);
    },
  },
  {
    name: "focal",
    help: "focal loss (Lin et al.; gamma 2)",
    logitPrior: "source",
    rules: SOURCE_RULES,
    create: (o) => {
      const gamma = o.gamma ?? 2;
      return (logits, labels) => focalLoss(logits, labels, gamma);
    },
  },
  {
    name: "class-balanced",
    help: "cross-entropy weighted by the inverse effective number (Cui et al.; beta 0.9999)",
    logitPrior: "source",
    rules: SOURCE_RULES,
    create: (o, _, constant) => {
      const weights = constant(classBalancedWeights(o.trainCounts, o.beta ?? 0.9999));
      return (logits, labels) => crossEntropyLoss(logits, labels, weights);
    },
  },
  {
    name: "ldam-drw",
    help: "LDAM margins with deferred re-weighting from 80% of the epochs (Cao et al.)",
    logitPrior: "source",
    rules: SOURCE_RULES,
    create: (o, _, constant) => {
      const margins = constant(ldamMargins(o.trainCounts, o.maxMargin ?? 0.5));
      const weights = constant(classBalancedWeights(o.trainCounts, o.beta ?? 0.9999));
      const scale = o.scale ?? 30;
      return (logits, labels, ctx) =>
        ldamLoss(logits, labels, margins, scale, drw(o, ctx) ? weights : undefined);
    },
    phase: (o, ctx) => drw(o, ctx) ? "drw" : "plain",
  },
  {
    name: "sade",
    help: "SADE: three experts (softmax, balanced softmax, inverse softmax with tau 2) on a " +
      "multi-expert network, aggregated at test time without a prior (Zhang et al.)",
    // Of its uniform expert; the evaluation reads the experts themselves.
    logitPrior: "uniform",
    rules: [],
    experts: SADE_EXPERTS,
    combine: "aggregation",
    // The official experts end in cosine classifiers of scale 30 (use_norm
    // in every config of Vanint/SADE-AgnosticLT: NormedLinear, s = 30).
    defaults: { model: { head: "cosine", scale: 30 } },
    create: (o, prior, constant) => {
      const tau = o.tau ?? SADE_TAU;
      const inverse = constant(inversePrior(countsToPrior(o.trainCounts)));
      return (logits, labels) => sadeLoss(logits, labels, prior, { tau, inversePrior: inverse });
    },
  },
  {
    name: "balpoe",
    help: "BalPoE: three experts trained with logit-adjusted losses (lambdas 0, 1, 2), their " +
      "logits averaged, calibrated by mixup (alpha 0.4) (Sanchez Aimar et al.)",
    // The product of experts with lambdas of mean 1 models the uniform-prior posterior.
    logitPrior: "uniform",
    rules: UNIFORM_RULES,
    experts: SADE_EXPERTS,
    combine: "product",
    // The official configs (emasa/BalPoE-CalibratedLT, configs/mixup/): cosine
    // heads (use_norm, scale 30) and mixup, alpha 0.4 on CIFAR-100-LT.
    defaults: { model: { head: "cosine", scale: 30 }, train: { mixup: 0.4 } },
    create: (o, prior) => {
      const lambdas = [...(o.expertLambdas ?? BALPOE_LAMBDAS)];
      checkExpertLambdas(lambdas, SADE_EXPERTS);
      return (logits, labels) => balpoeLoss(logits, labels, prior, lambdas);
    },
  },
];

/**
 * Experts of the networks `method` trains (1 but for multi-expert methods such as SADE).
 *
 * @example One network or three experts
 * ```ts
 * import assert from "node:assert/strict";
 * import { methodExperts } from "./mod.ts";
 *
 * assert.deepEqual([methodExperts("lade"), methodExperts("sade")], [1, 3]);
 * ```
 */
export function methodExperts(method: string): number {
  return methodByName(method).experts ?? 1;
}

/**
 * Experts in the predictions of a `method` model: [N, experts * C] logits.
 * 1 for single networks and for products of experts (BalPoE), whose
 * predictions are the experts' mean (`combineExperts`); SADE's 3.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { predictionExperts } from "./methods.ts";
 * assert.deepEqual(
 *   [predictionExperts("lade"), predictionExperts("sade"), predictionExperts("balpoe")],
 *   [1, 3, 1],
 * );
 * ```
 */
export function predictionExperts(method: string): number {
  const m = methodByName(method);
  return m.combine === "product" ? 1 : m.experts ?? 1;
}

/**
 * The predictions of a `method` model from its network's logits: for a
 * product of experts (BalPoE), the experts' mean [N, C] of [N, E * C]; for
 * every other method the logits themselves (a new handle either way; the latter shares its storage).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "../torch/create.ts";
 * import { combineExperts } from "./methods.ts";
 * // BalPoE's three experts, two classes: the mean of [1, 2], [3, 4] and [5, 6].
 * using logits = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [1, 6]);
 * using product = combineExperts(logits, "balpoe");
 * assert.deepEqual(product.toList(), [3, 4]);
 * ```
 */
export function combineExperts(logits: Tensor, method: string): Tensor {
  const m = methodByName(method);
  return m.combine === "product" && (m.experts ?? 1) > 1
    ? expertMean(logits, m.experts)
    : logits.share();
}

/** True once LDAM-DRW's deferred re-weighting applies. */
function drw(o: LossOptions, ctx: LossContext): boolean {
  return ctx.epoch >= (o.drwEpoch ?? Math.floor(ctx.epochs * 0.8));
}

/** The names of the training methods `createLoss` knows. */
export const METHODS: readonly string[] = METHOD_REGISTRY.map((m) => m.name);

/**
 * The method called `name`; an InputError for `method` naming the known ones otherwise.
 *
 * @example A method's prediction rules
 * ```ts
 * import assert from "node:assert/strict";
 * import { methodByName } from "./mod.ts";
 *
 * assert.deepEqual(methodByName("softmax").rules, ["softmax", "pc_softmax"]);
 * assert.throws(() => methodByName("nope"), /nope/);
 * ```
 */
export function methodByName(name: string): Method {
  const method = METHOD_REGISTRY.find((m) => m.name === name);
  if (method === undefined) {
    throw new InputError("method", `unknown method '${name}' (use ${METHODS.join(", ")})`);
  }
  return method;
}

function checkCounts(counts: readonly number[]): void {
  if (counts.length < 2) throw new InputError("trainCounts", "must list at least two classes");
  for (const n of counts) {
    if (!Number.isFinite(n) || n <= 0) {
      throw new InputError("trainCounts", `must be positive numbers, got ${n}`);
    }
  }
}

/** The numeric options' valid ranges, as predicates and words. */
const OPTION_RANGES: readonly [keyof LossOptions, (v: number) => boolean, string][] = [
  ["alpha", (v) => v >= 0, "must be >= 0"],
  ["lambda", (v) => v >= 0, "must be >= 0"],
  ["tau", () => true, "must be a finite number"],
  ["gamma", (v) => v >= 0, "must be >= 0"],
  ["beta", (v) => v >= 0 && v < 1, "must be in [0, 1)"],
  ["maxMargin", (v) => v >= 0, "must be >= 0"],
  ["scale", (v) => v > 0, "must be > 0"],
  ["drwEpoch", (v) => v >= 0, "must be >= 0"],
];

/**
 * The loss of `method` with its hyper-parameters; throws an InputError
 * (naming the parameter) on an unknown method or an invalid value. Defaults:
 * alpha 0.1, lambda 0.1, tau 1 (SADE's 2), gamma 2, beta 0.9999, maxMargin 0.5,
 * scale 30, drwEpoch = floor(0.8 epochs) (160 of 200, as LDAM-DRW).
 *
 * @example A method's loss, its constants freed with it
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLoss } from "./mod.ts";
 * import { tensor, zeros } from "../torch/mod.ts";
 *
 * using loss = createLoss("prior-ce", { trainCounts: [300, 100] }); // prior [3/4, 1/4]
 * using logits = zeros([1, 2]);
 * using labels = tensor(new BigInt64Array([1n]));
 * using value = loss(logits, labels, { epoch: 0, epochs: 1 });
 * assert.ok(Math.abs(value.item() - Math.log(4)) < 1e-6);
 * ```
 */
export function createLoss(method: string, options: LossOptions): Loss {
  const spec = methodByName(method);
  checkCounts(options.trainCounts);
  for (const [name, ok, rule] of OPTION_RANGES) {
    const value = options[name] as number | undefined;
    if (value !== undefined && !(Number.isFinite(value) && ok(value))) {
      throw new InputError(name, `${rule}, got ${value}`);
    }
  }
  const resolved = { ...options, trainCounts: [...options.trainCounts] };
  const device = options.device ?? "cpu";
  // Per-class constants go to the device once: a step then copies nothing
  // from the host (which a captured CUDA graph could not do either).
  const held: Tensor[] = [];
  const constant = (values: readonly number[]): Tensor => {
    // float64, so that float64 logits (gradient checks) see exact values;
    // float32 logits take a float32 copy of these few numbers per step.
    const host = tensor([...values], [values.length], "float64");
    const t = device === "cpu" ? host : host.to(device);
    if (t !== host) host.dispose();
    held.push(t);
    return t;
  };
  const fn = spec.create(resolved, constant(countsToPrior(resolved.trainCounts)), constant);
  const dispose = () => {
    for (const t of held.splice(0)) t.dispose();
  };
  return Object.assign(
    (logits: Tensor, labels: Tensor, ctx: LossContext) => fn(logits, labels, ctx),
    {
      dispose,
      [Symbol.dispose]: dispose,
      phase: (ctx: LossContext) => spec.phase?.(resolved, ctx) ?? "",
    },
  );
}
