/**
 * One round's unlabelled predictions as the online methods read them: n rows
 * of C class probabilities in a Float64Array (row-major). A round holds a
 * handful of samples, so the per-round arithmetic over C classes is plain
 * typed-array math; the stream's probabilities are copied out of libtorch
 * once for all rounds (lib/online/evaluate.ts), not once a round.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { Tensor } from "../torch/tensor.ts";

/** n rows of C probabilities, row-major. */
export interface ProbRows {
  /** Samples (rows). */
  readonly rows: number;
  /** Classes (columns). */
  readonly classes: number;
  /** rows * classes values; row i is data[i * classes .. (i + 1) * classes). */
  readonly data: Float64Array;
}

/** What `update` accepts: rows already copied out, a [n, C] Tensor, or nested arrays. */
export type ProbsLike = ProbRows | Tensor | readonly (readonly number[])[];

function isRows(x: ProbsLike): x is ProbRows {
  return (x as ProbRows).data instanceof Float64Array && typeof (x as ProbRows).rows === "number";
}

/**
 * `probs` as {@link ProbRows} with `classes` columns (an InputError naming
 * `parameter` otherwise): a Tensor [n, C] is copied to the host, nested
 * arrays are copied, ProbRows pass through. Values must be finite and >= 0.
 *
 * @example Nested arrays as rows
 * ```ts
 * import assert from "node:assert/strict";
 * import { probRows } from "./probs.ts";
 *
 * const rows = probRows([[0.25, 0.75], [1, 0]], 2);
 * assert.deepEqual([rows.rows, rows.classes, [...rows.data]], [2, 2, [0.25, 0.75, 1, 0]]);
 * ```
 */
export function probRows(probs: ProbsLike, classes: number, parameter = "probs"): ProbRows {
  let out: ProbRows;
  if (isRows(probs)) {
    out = probs;
  } else if (Array.isArray(probs)) {
    const rows = probs as readonly (readonly number[])[];
    const data = new Float64Array(rows.length * classes);
    rows.forEach((row, i) => {
      if (row.length !== classes) {
        throw new InputError(parameter, `row ${i} has ${row.length} values, expected ${classes}`);
      }
      data.set(row, i * classes);
    });
    out = { rows: rows.length, classes, data };
  } else {
    const t = probs as Tensor;
    if (t.ndim !== 2) {
      throw new InputError(parameter, `must be [n, C], got shape [${t.shape}]`);
    }
    const host = t.device === "cpu" && t.dtype === "float64"
      ? t.contiguous()
      : t.to("cpu", "float64");
    try {
      out = { rows: t.shape[0], classes: t.shape[1], data: host.toArray() as Float64Array };
    } finally {
      host.dispose();
    }
  }
  if (out.classes !== classes) {
    throw new InputError(parameter, `has ${out.classes} classes, expected ${classes}`);
  }
  if (out.data.length !== out.rows * out.classes) {
    throw new InputError(
      parameter,
      `holds ${out.data.length} values, not ${out.rows} x ${classes}`,
    );
  }
  for (let k = 0; k < out.data.length; k++) {
    const v = out.data[k];
    if (!(v >= 0) || v === Infinity) {
      throw new InputError(
        parameter,
        `values must be finite and >= 0, got ${v} in row ${Math.floor(k / classes)}`,
      );
    }
  }
  return out;
}

/** Rows `start .. start + count` of `p` (a view, no copy). */
export function sliceRows(p: ProbRows, start: number, count: number): ProbRows {
  return {
    rows: count,
    classes: p.classes,
    data: p.data.subarray(start * p.classes, (start + count) * p.classes),
  };
}

/** The mean row of `p` (the round's average predicted distribution); zeros for no rows. */
export function meanRow(p: ProbRows): Float64Array {
  const out = new Float64Array(p.classes);
  for (let i = 0; i < p.rows; i++) {
    const o = i * p.classes;
    for (let c = 0; c < p.classes; c++) out[c] += p.data[o + c];
  }
  if (p.rows > 0) { for (let c = 0; c < p.classes; c++) out[c] /= p.rows; }
  return out;
}
