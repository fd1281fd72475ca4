/**
 * Class priors: the source prior p_s(c) = n_c / sum(n) of training counts,
 * and the prior arguments of the losses and estimators (a Tensor or a number
 * array), turned into a tensor on the logits' device and of their dtype.
 *
 * @module
 */

import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/** A class prior as the losses accept it: a 1-D Tensor or a number array of length C. */
export type PriorLike = Tensor | readonly number[];

/**
 * `prior` as a 1-D tensor matching `logits` (dtype and device). Always a new
 * handle owned by the caller (or the enclosing scope).
 */
export function priorTensor(prior: PriorLike, logits: Tensor): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  const length = Array.isArray(prior) ? prior.length : (prior as Tensor).numel;
  if (length !== classes) {
    throw new RangeError(`the prior has ${length} classes but the logits have ${classes}`);
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

/** The normalised prior p(c) = n_c / sum(n) of class counts. */
export function countsToPrior(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new RangeError("class counts must sum to a positive number");
  return counts.map((n) => n / total);
}
