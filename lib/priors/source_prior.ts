/**
 * Class priors: the source prior p_s(c) = n_c / sum(n) of training counts,
 * and the prior arguments of the losses and estimators (a Tensor or a number
 * array), turned into a tensor on the logits' device and of their dtype.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import { Tensor } from "../torch/tensor.ts";
import { kindOf } from "./check.ts";

/** A class prior as the losses accept it: a 1-D Tensor or a number array of length C. */
export type PriorLike = Tensor | readonly number[];

/**
 * `prior` as a 1-D tensor matching `logits` (dtype and device). Always a new
 * handle owned by the caller (or the enclosing scope).
 */
export function priorTensor(prior: PriorLike, logits: Tensor, parameter = "sourcePrior"): Tensor {
  if (!Array.isArray(prior) && !(prior instanceof Tensor)) {
    throw new InputError(parameter, `must be a number array or a Tensor, got ${kindOf(prior)}`);
  }
  const classes = logits.shape[logits.ndim - 1];
  const length = Array.isArray(prior) ? prior.length : (prior as Tensor).numel;
  if (length !== classes) {
    throw new InputError(
      parameter,
      `has ${length} classes but the logits have ${classes}`,
    );
  }
  // Values are checked where that costs no device synchronisation: host
  // arrays and CPU tensors (a few numbers; a GPU tensor is the caller's).
  if (Array.isArray(prior)) checkPriorValues(prior as readonly number[], parameter);
  else if ((prior as Tensor).device === "cpu") {
    checkPriorValues(
      Array.from((prior as Tensor).toArray() as ArrayLike<number>, Number),
      parameter,
    );
  }
  if (Array.isArray(prior)) {
    const host = tensor(prior as number[], [classes], logits.dtype);
    if (logits.device === "cpu") return host;
    try {
      return host.to(logits.device);
    } finally {
      host.dispose();
    }
  }
  const t = prior as Tensor;
  return scope(() => t.reshape(classes).to(logits.device, logits.dtype));
}

/**
 * Checks a prior's (or weights') values: finite, >= 0, some positive; an
 * InputError for `parameter` otherwise (a negative or NaN prior made every
 * loss NaN without a word).
 */
export function checkPriorValues(values: readonly number[], parameter = "sourcePrior"): void {
  const c = values.findIndex((v) => !Number.isFinite(v) || v < 0);
  if (c >= 0) {
    throw new InputError(parameter, `must be finite and >= 0, got ${values[c]} for class ${c}`);
  }
  if (!values.some((v) => v > 0)) throw new InputError(parameter, "must not be all zero");
}

/**
 * Checks a prior that a computation divides by or takes the logarithm of:
 * every class's value > 0 (with `consequence` saying what a 0 would do, for
 * the message), after checkPriorValues' checks. Host arrays and CPU tensors
 * are checked; a GPU tensor is the caller's (reading it would synchronise
 * the device).
 */
export function checkPositivePrior(
  prior: PriorLike,
  parameter: string,
  consequence: string,
): void {
  let values: number[] | undefined;
  if (Array.isArray(prior)) values = [...prior as readonly number[]];
  else if ((prior as Tensor)?.device === "cpu") {
    values = Array.from((prior as Tensor).toArray() as ArrayLike<number>, Number);
  }
  if (values === undefined) return;
  // Negative, NaN and all-zero priors get their own messages first.
  checkPriorValues(values, parameter);
  const c = values.indexOf(0);
  if (c >= 0) {
    throw new InputError(
      parameter,
      `must be > 0 for every class, got 0 for class ${c} (a class without training samples: ` +
        `${consequence})`,
    );
  }
}

/**
 * The normalised prior p(c) = n_c / sum(n) of class counts.
 *
 * @example Training counts to a prior (mod.ts's sourcePrior)
 * ```ts
 * import assert from "node:assert/strict";
 * import { countsToPrior } from "./mod.ts";
 *
 * assert.deepEqual(countsToPrior([300, 100]), [0.75, 0.25]);
 * ```
 */
export function countsToPrior(counts: readonly number[]): number[] {
  return normalisePrior(counts, "trainCounts");
}

/**
 * `values` (finite, >= 0, some positive) divided by their sum, computed
 * without overflow: when the sum overflows, scaled by their largest first,
 * so that ten values of 1e308 (whose sum is Infinity) give ten of 0.1, not
 * ten zeros. (Only then: scaling rounds, and counts must give exactly
 * count / total.)
 */
export function normalisePrior(values: readonly number[], parameter: string): number[] {
  const bad = values.findIndex((n) => typeof n !== "number" || !Number.isFinite(n) || n < 0);
  if (bad >= 0) {
    throw new InputError(parameter, `must be finite and >= 0, got ${values[bad]} for class ${bad}`);
  }
  let largest = 0;
  for (const v of values) largest = Math.max(largest, v);
  if (!(largest > 0)) throw new InputError(parameter, "must sum to a positive number");
  const sum = values.reduce((a, b) => a + b, 0);
  if (Number.isFinite(sum)) return values.map((v) => v / sum);
  const scaled = values.map((v) => v / largest);
  const total = scaled.reduce((a, b) => a + b, 0);
  return scaled.map((v) => v / total);
}
