/**
 * Class labels as the tensor ops want them: int64 (gather, one-hot, bincount
 * and index ops take no other integer type).
 *
 * @module
 */

import { tensor } from "../torch/create.ts";
import type { Tensor } from "../torch/tensor.ts";

/** Labels as lade's functions accept them: a tensor of any integer dtype, or host integers. */
export type LabelsLike = Tensor | Int32Array | readonly number[];

/**
 * `labels` as an int64 tensor: a new handle owned by the caller (or the
 * enclosing scope). A tensor keeps its shape and device (an int64 one is
 * shared, not copied); host labels become a tensor of shape [N] on the CPU.
 */
export function labelTensor(labels: LabelsLike): Tensor {
  if (labels instanceof Int32Array) return tensor(labels, [labels.length], "int64");
  if (Array.isArray(labels)) {
    return tensor(Int32Array.from(labels as readonly number[]), [labels.length], "int64");
  }
  const t = labels as Tensor;
  return t.dtype === "int64" ? t.share() : t.to("int64");
}

/** How many labels `labels` holds (elements of a tensor). */
export function labelCount(labels: LabelsLike): number {
  if (labels instanceof Int32Array || Array.isArray(labels)) return labels.length;
  return (labels as Tensor).numel;
}
