/**
 * Class labels as the tensor ops want them: int64 (gather, one-hot, bincount
 * and index ops take no other integer type).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { tensor } from "../torch/create.ts";
import type { Tensor } from "../torch/tensor.ts";

/** Labels as lade's functions accept them: a tensor of any integer dtype, or host integers. */
export type LabelsLike = Tensor | Int32Array | readonly number[];

/**
 * `labels` as an int64 tensor: a new handle owned by the caller (or the
 * enclosing scope). A tensor keeps its shape and device (an int64 one is
 * shared, not copied); host labels become a tensor of shape [N] on the CPU.
 *
 * @example Host labels as an int64 tensor
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelTensor } from "./mod.ts";
 *
 * using y = labelTensor(new Int32Array([2, 0, 1]));
 * assert.deepEqual([y.dtype, y.shape, y.toList()], ["int64", [3], [2, 0, 1]]);
 * ```
 */
export function labelTensor(labels: LabelsLike): Tensor {
  if (labels instanceof Int32Array) return tensor(labels, [labels.length], "int64");
  if (Array.isArray(labels)) {
    const bad = (labels as readonly number[]).find((y) =>
      !Number.isInteger(y) || y < 0 || y >= 2 ** 31
    );
    if (bad !== undefined) {
      throw new InputError("labels", `must be class indices (integers >= 0), got ${bad}`);
    }
    return tensor(Int32Array.from(labels as readonly number[]), [labels.length], "int64");
  }
  const t = labels as Tensor;
  if (!INTEGER_DTYPES.has(t.dtype)) {
    // A float tensor would be truncated towards zero: 1.7 would silently be class 1.
    throw new InputError("labels", `must be an integer tensor (class indices), got ${t.dtype}`);
  }
  return t.dtype === "int64" ? t.share() : t.to("int64");
}

const INTEGER_DTYPES: ReadonlySet<string> = new Set(["int64", "int32", "int16", "int8", "uint8"]);

/** How many labels `labels` holds (elements of a tensor). */
export function labelCount(labels: LabelsLike): number {
  if (labels instanceof Int32Array || Array.isArray(labels)) return labels.length;
  return (labels as Tensor).numel;
}
