/**
 * The input checks the prior estimators share.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { scope } from "../torch/memory.ts";
import { Tensor } from "../torch/tensor.ts";

/** What `value` is, for messages: "an array", "a string", "null". */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Tensor) return "a Tensor";
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return `a ${typeof value}`;
}

/** Throws an InputError for `parameter` unless `value` is a Tensor. */
export function requireTensor(value: unknown, parameter: string): asserts value is Tensor {
  if (!(value instanceof Tensor)) {
    throw new InputError(parameter, `must be a Tensor, got ${kindOf(value)}`);
  }
}

/**
 * Checks posteriors or scores [N, C] before an estimate: at least one row,
 * every value finite (a NaN made every estimate NaN); an InputError for
 * `parameter` otherwise.
 */
export function checkScores(scores: Tensor, parameter: string): void {
  requireTensor(scores, parameter);
  if (scores.ndim !== 2) {
    throw new InputError(parameter, `must be 2-D [N, C], got shape [${scores.shape.join(", ")}]`);
  }
  if (scores.shape[0] === 0) throw new InputError(parameter, "is empty (no samples)");
  const bad = scope(() => scores.isfinite().logicalNot().sum().item());
  if (bad > 0) {
    throw new InputError(parameter, `holds ${bad} NaN or infinite value(s)`);
  }
}

/**
 * Checks posteriors [N, C] (what EM takes): besides `checkScores`, every
 * value in [0, 1] and every row summing to 1 (within 1e-3): logits or
 * unnormalised scores given here made EM return a confident, wrong prior.
 */
export function checkProbabilities(probs: Tensor, parameter: string): void {
  checkScores(probs, parameter);
  const [outside, worst] = scope(() => {
    const p = probs.to("float64");
    const out = p.lt(0).logicalOr(p.gt(1)).sum().item();
    return [out, p.sum(1).sub(1).abs().max().item()];
  });
  if (outside > 0) {
    throw new InputError(
      parameter,
      `must be probabilities in [0, 1], but ${outside} value(s) are not (logits? take softmax first)`,
    );
  }
  if (worst > 1e-3) {
    throw new InputError(
      parameter,
      `rows must sum to 1 (probabilities), but one is off by ${worst.toPrecision(3)}`,
    );
  }
}
