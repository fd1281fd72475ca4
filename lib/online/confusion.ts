/**
 * The soft confusion matrix of a classifier on labelled source data,
 * A[j][i] = mean over the samples of class i of p(yhat = j | x): the
 * expected predicted distribution given the true class. Label shift leaves
 * it unchanged, so a target's mean prediction is mu = A q and q = A^-1 mu
 * (BBSE, Lipton et al. 2018, with probabilities instead of hard
 * predictions, as the online label shift code of Baby et al. 2023 uses).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { labelTensor } from "../data/labels.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/**
 * The soft confusion A [C, C] (row-major Float64Array, A[j * C + i] =
 * P(yhat = j | y = i)) of probabilities `probs` [M, C] with labels `labels`.
 * A class without labelled samples has a zero column (A is then singular).
 *
 * @example Each class's mean prediction, as a column
 * ```ts
 * import assert from "node:assert/strict";
 * import { softConfusion } from "./confusion.ts";
 * import { tensor } from "../torch/mod.ts";
 *
 * using probs = tensor([1, 0, 0.5, 0.5, 0.25, 0.75], [3, 2]);
 * const a = softConfusion(probs, Int32Array.from([0, 0, 1]));
 * assert.deepEqual([...a], [0.75, 0.25, 0.25, 0.75]);
 * ```
 */
export function softConfusion(probs: Tensor, labels: Int32Array): Float64Array {
  if (probs.ndim !== 2 || probs.shape[0] !== labels.length) {
    throw new InputError(
      "source",
      `${probs.shape[0]} rows of probabilities but ${labels.length} labels`,
    );
  }
  const classes = probs.shape[1];
  return scope(() => {
    const onehot = labelTensor(labels).oneHot(classes).to("float64");
    // sums[i][j] = sum over class-i samples of p_j; the transpose divided by the counts is A.
    const sums = onehot.t().matmul(probs.to("float64"));
    const counts = onehot.sum(0).clamp(1);
    return sums.t().div(counts.unsqueeze(0)).contiguous().toArray() as Float64Array;
  });
}
