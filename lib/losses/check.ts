/**
 * Argument checks the loss functions share: a hyper-parameter outside its
 * range is an InputError naming it (a negative alpha or lambda turned the
 * objective upside down without a word).
 *
 * @module
 */

import { InputError, TorchError } from "../errors.ts";
import { isFloating } from "../torch/dtype.ts";
import type { Tensor } from "../torch/tensor.ts";
import { requireTensor } from "../priors/check.ts";
import { checkPositivePrior, type PriorLike } from "../priors/source_prior.ts";

/** `value` unless it is not finite or fails `ok`; an InputError for `name` saying `rule` then. */
export function checkHyper(
  name: string,
  value: number,
  ok: (v: number) => boolean,
  rule: string,
): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new InputError(name, `${rule}, got ${value}`);
  }
  return value;
}

/** A weight that must be a finite number >= 0. */
export function nonNegative(name: string, value: number): number {
  return checkHyper(name, value, (v) => v >= 0, "must be a finite number >= 0");
}

/**
 * Checks logits: a floating-point Tensor of at least one dimension (integer
 * logits made every loss NaN, a plain array an untyped TypeError).
 */
export function checkLogits(logits: Tensor, parameter = "logits"): void {
  requireTensor(logits, parameter);
  if (!isFloating(logits.dtype)) {
    throw new InputError(
      parameter,
      `must be a floating-point tensor, got ${logits.dtype} (convert with .to("float32"))`,
    );
  }
  if (logits.ndim < 1) throw new InputError(parameter, "must have a class dimension");
}

/**
 * Checks a prior whose logarithm a loss adds to the logits: every class's
 * value > 0 (a class of prior 0 has log 0 = -inf, and the loss is infinite
 * or NaN). Host arrays and CPU tensors are checked; a GPU tensor is the
 * caller's (reading it would synchronise the device).
 */
export function positivePrior(prior: PriorLike, parameter = "sourcePrior"): void {
  checkPositivePrior(prior, parameter, "log 0 makes the loss infinite");
}

/**
 * Runs `compute` (a loss that picks each sample's class by its `labels`)
 * and says a label outside the `classes` classes in the caller's terms:
 * libtorch finds it inside its gather or one-hot ("gather: index 5 is out
 * of bounds for dimension 1 with size 3") only when it runs, and reading
 * the labels first would synchronise a GPU every step. (Once it failed,
 * the labels are read to name the value.)
 */
export function withLabelsInRange<T>(classes: number, labels: Tensor, compute: () => T): T {
  try {
    return compute();
  } catch (e) {
    if (
      e instanceof TorchError &&
      /index -?\d+ is out of bounds for dimension \d+ with size \d+|Class values must be/.test(
        e.message,
      )
    ) {
      let bad: number | undefined;
      try {
        const values = Array.from(labels.toArray() as ArrayLike<number | bigint>, Number);
        bad = values.find((y) => !(y >= 0 && y < classes));
      } catch {
        // unreadable labels: the message without the value
      }
      throw new InputError(
        "labels",
        `must be class indices in [0, ${classes})${bad !== undefined ? `, got ${bad}` : ""}`,
      );
    }
    throw e;
  }
}
