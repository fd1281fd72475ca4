/**
 * SADE's expert losses (Zhang et al., NeurIPS 2022, "Self-Supervised
 * Aggregation of Diverse Experts for Test-Agnostic Long-Tailed
 * Recognition"; the official code is Vanint/SADE-AgnosticLT, whose
 * model/loss.py `DiverseExpertLoss` these follow). A multi-expert network
 * returns the logits of its E experts side by side, [N, E * C]; SADE trains
 * three, each for another class mix:
 * - expert 1 (forward, head-favouring): softmax cross-entropy on f1;
 * - expert 2 (uniform): balanced softmax, cross-entropy on f2 + log p_s;
 * - expert 3 (backward, tail-favouring): inverse softmax, cross-entropy on
 *   f3 + log p_s - tau * log p_inv, where p_inv is p_s with its values
 *   reversed by rank (`inversePrior`);
 * and the loss is their sum. As in the official code, each log adds 1e-9
 * to the prior first.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { type PriorLike, priorTensor } from "../priors/source_prior.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { crossEntropyLoss } from "./cross_entropy.ts";

/** SADE's number of experts. */
export const SADE_EXPERTS = 3;

/** SADE's default tau of the inverse softmax loss. */
export const SADE_TAU = 2;

/** What the official code adds to a prior before its log. */
const LOG_EPS = 1e-9;

/**
 * The inverted prior of SADE's backward expert: the class of rank r in
 * ascending order of `prior` gets the value of rank C - 1 - r, so the rarest
 * class gets the largest value and the order is reversed (the official
 * `inverse_prior`: sort, rank, index the sorted values from the other end).
 *
 * Ties: the official code ranks with torch.sort, whose order among equal
 * values is unspecified (PyTorch 1.13's CPU sort orders CIFAR-100-LT's tied
 * counts neither by index nor against it). Whatever the order, a block of
 * tied classes receives the values of the mirrored block of ranks; where
 * those are equal too (no ties, or ties placed symmetrically, as the step
 * imbalance's two halves), every order gives the same result. Here ties are
 * ranked by class index, lower index first (`torch.sort(stable=True)`), so
 * the result is deterministic; e.g. [0.5, 0.25, 0.25] inverts to
 * [0.25, 0.5, 0.25].
 *
 * @example The order of the classes reversed
 * ```ts
 * import assert from "node:assert/strict";
 * import { inversePrior } from "./mod.ts";
 *
 * assert.deepEqual(inversePrior([0.7, 0.2, 0.1]), [0.1, 0.2, 0.7]);
 * assert.deepEqual(inversePrior([0.5, 0.25, 0.25]), [0.25, 0.5, 0.25]);
 * ```
 */
export function inversePrior(prior: readonly number[]): number[] {
  if (prior.length === 0) throw new InputError("prior", "must list at least one class");
  for (const p of prior) {
    if (!Number.isFinite(p) || p < 0) {
      throw new InputError("prior", `must be non-negative numbers, got ${p}`);
    }
  }
  const order = prior.map((_, c) => c).sort((a, b) => prior[a] - prior[b] || a - b);
  const rank = new Array<number>(prior.length);
  order.forEach((c, r) => (rank[c] = r));
  return prior.map((_, c) => prior[order[prior.length - 1 - rank[c]]]);
}

/** Classes per expert of logits [N, experts * C]; an InputError when the width does not divide. */
function expertWidth(logits: Tensor, experts: number): number {
  if (!Number.isInteger(experts) || experts < 1) {
    throw new InputError("experts", `must be a positive integer, got ${experts}`);
  }
  const width = logits.ndim === 2 ? logits.shape[1] : NaN;
  if (!(width % experts === 0 && width > 0)) {
    throw new InputError(
      "logits",
      `expected [N, ${experts} * C] logits of ${experts} experts, got shape [${logits.shape}]`,
    );
  }
  return width / experts;
}

/**
 * Expert `e`'s logits [N, C] (0-based) of multi-expert logits [N, experts * C]: a view.
 *
 * @example The second expert's columns
 * ```ts
 * import assert from "node:assert/strict";
 * import { expertLogits } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([1, 2, 3, 4, 5, 6], [1, 6]); // three experts of two classes
 * using second = expertLogits(logits, 1);
 * assert.deepEqual(second.toList(), [3, 4]);
 * ```
 */
export function expertLogits(logits: Tensor, e: number, experts = SADE_EXPERTS): Tensor {
  const classes = expertWidth(logits, experts);
  if (!Number.isInteger(e) || e < 0 || e >= experts) {
    throw new InputError("expert", `must be 0..${experts - 1}, got ${e}`);
  }
  return logits.narrow(1, e * classes, classes);
}

/**
 * Every expert's logits [N, C] of multi-expert logits [N, experts * C] (views).
 *
 * @example Every expert's columns
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitExperts } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([1, 2, 3, 4, 5, 6], [1, 6]);
 * const experts = splitExperts(logits);
 * assert.deepEqual(experts.map((e) => e.toList()), [[1, 2], [3, 4], [5, 6]]);
 * experts.forEach((e) => e.dispose());
 * ```
 */
export function splitExperts(logits: Tensor, experts = SADE_EXPERTS): Tensor[] {
  return Array.from({ length: experts }, (_, e) => expertLogits(logits, e, experts));
}

/**
 * The plain average of the experts' logits, [N, C] (the official network's
 * `output`, its prediction without test-time aggregation). With one expert,
 * a copy of the logits.
 *
 * @example The experts' average
 * ```ts
 * import assert from "node:assert/strict";
 * import { expertMean } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([1, 2, 3, 4, 5, 6], [1, 6]);
 * using mean = expertMean(logits);
 * assert.deepEqual(mean.toList(), [3, 4]);
 * ```
 */
export function expertMean(logits: Tensor, experts = SADE_EXPERTS): Tensor {
  const classes = expertWidth(logits, experts);
  if (experts === 1) return logits.clone();
  return scope(() => logits.reshape(logits.shape[0], experts, classes).mean(1));
}

/** Options of the inverse softmax loss and SADE's loss. */
export interface SadeLossOptions {
  /** Weight of log p_inv (default 2). */
  tau?: number;
  /**
   * The inverted prior, when already computed (the trainer puts it on the
   * device once); by default `inversePrior` of the source prior.
   */
  inversePrior?: PriorLike;
}

/** The source prior as numbers (a Tensor is read back). */
function priorValues(prior: PriorLike): number[] {
  return Array.isArray(prior)
    ? [...prior as readonly number[]]
    : Array.from((prior as Tensor).toArray() as ArrayLike<number>, Number);
}

/** log(prior + 1e-9) as a tensor like `logits`. */
function logPrior(prior: PriorLike, logits: Tensor): Tensor {
  return scope(() => priorTensor(prior, logits).add(LOG_EPS).log());
}

/**
 * Balanced softmax (SADE's uniform expert): mean cross-entropy of f + log(p_s + 1e-9).
 *
 * @example The rare class under the uniform expert
 * ```ts
 * import assert from "node:assert/strict";
 * import { balancedSoftmaxLoss } from "./mod.ts";
 * import { tensor, zeros } from "../torch/mod.ts";
 *
 * using logits = zeros([1, 2]);
 * using rare = tensor(new BigInt64Array([1n]));
 * using loss = balancedSoftmaxLoss(logits, rare, [0.75, 0.25]);
 * assert.ok(Math.abs(loss.item() - Math.log(4)) < 1e-6);
 * ```
 */
export function balancedSoftmaxLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
): Tensor {
  return scope(() => crossEntropyLoss(logits.add(logPrior(sourcePrior, logits)), labels));
}

/**
 * Inverse softmax (SADE's backward expert): mean cross-entropy of
 * f + log(p_s + 1e-9) - tau * log(p_inv + 1e-9).
 *
 * @example tau 0 is the balanced softmax
 * ```ts
 * import assert from "node:assert/strict";
 * import { balancedSoftmaxLoss, inverseSoftmaxLoss } from "./mod.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using logits = tensor([0.3, -0.2, 1, 0.5], [2, 2]);
 * using labels = tensor(new BigInt64Array([0n, 1n]));
 * using inverse = inverseSoftmaxLoss(logits, labels, [0.75, 0.25], { tau: 0 });
 * using balanced = balancedSoftmaxLoss(logits, labels, [0.75, 0.25]);
 * assert.ok(Math.abs(inverse.item() - balanced.item()) < 1e-6);
 * ```
 */
export function inverseSoftmaxLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
  options: SadeLossOptions = {},
): Tensor {
  const tau = options.tau ?? SADE_TAU;
  return scope(() => {
    const inverse = options.inversePrior ?? inversePrior(priorValues(sourcePrior));
    const adjust = logPrior(sourcePrior, logits).sub(logPrior(inverse, logits).mul(tau));
    return crossEntropyLoss(logits.add(adjust), labels);
  });
}

/**
 * SADE's training loss on three experts' logits [N, 3C]: softmax
 * cross-entropy of expert 1, balanced softmax of expert 2 and inverse
 * softmax of expert 3, summed.
 *
 * @example Three experts, each at log 2
 * ```ts
 * import assert from "node:assert/strict";
 * import { sadeLoss } from "./mod.ts";
 * import { tensor, zeros } from "../torch/mod.ts";
 *
 * // Zero logits and a uniform prior: each expert's loss is log 2.
 * using logits = zeros([2, 6]);
 * using labels = tensor(new BigInt64Array([0n, 1n]));
 * using loss = sadeLoss(logits, labels, [0.5, 0.5]);
 * assert.ok(Math.abs(loss.item() - 3 * Math.log(2)) < 1e-6);
 * ```
 */
export function sadeLoss(
  logits: Tensor,
  labels: Tensor,
  sourcePrior: PriorLike,
  options: SadeLossOptions = {},
): Tensor {
  return scope(() => {
    const [forward, uniform, backward] = splitExperts(logits, SADE_EXPERTS);
    return crossEntropyLoss(forward, labels)
      .add(balancedSoftmaxLoss(uniform, labels, sourcePrior))
      .add(inverseSoftmaxLoss(backward, labels, sourcePrior, options));
  });
}
