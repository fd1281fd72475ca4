/**
 * The input checks the prior estimators share.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/**
 * Checks posteriors or scores [N, C] before an estimate: at least one row,
 * every value finite (a NaN made every estimate NaN); an InputError for
 * `parameter` otherwise.
 */
export function checkScores(scores: Tensor, parameter: string): void {
  if (scores.ndim !== 2) {
    throw new InputError(parameter, `must be 2-D [N, C], got shape [${scores.shape.join(", ")}]`);
  }
  if (scores.shape[0] === 0) throw new InputError(parameter, "is empty (no samples)");
  const bad = scope(() => scores.isfinite().logicalNot().sum().item());
  if (bad > 0) {
    throw new InputError(parameter, `holds ${bad} NaN or infinite value(s)`);
  }
}
