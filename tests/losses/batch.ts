/**
 * The batch the loss tests compute by hand (5 samples, 4 classes; class 2
 * is absent from the labels) and the plain-JavaScript references they
 * check the losses against.
 *
 * @module
 */

import assert from "node:assert/strict";
import { countsToPrior } from "../../lib/losses/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

/** Logits [5][4]. */
export const ROWS: number[][] = [
  [1.2, -0.3, 0.5, 2.0],
  [0.1, 0.9, -1.1, 0.4],
  [-0.7, 0.2, 1.5, -0.2],
  [2.2, 0.0, -0.4, 0.3],
  [0.3, -1.2, 0.8, 1.1],
];
/** The labels of ROWS. */
export const LABELS: number[] = [3, 1, 0, 0, 3];
/** Training counts per class, and their prior. */
export const COUNTS: number[] = [500, 120, 30, 5];
/** COUNTS as a prior. */
export const PRIOR: number[] = countsToPrior(COUNTS);
/** Three experts side by side [5, 12]: the rows, negated, and doubled. */
export const EXPERTS: number[][] = ROWS.map((
  r,
) => [...r, ...r.map((x) => -x), ...r.map((x) => 2 * x)]);

/** log sum exp, shifted by the maximum. */
export function lse(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

/** Mean cross-entropy of rows + offset against soft targets [N][C]. */
export function softCE(
  rows: number[][],
  targets: number[][],
  offset: number[] = rows[0].map(() => 0),
): number {
  return rows.reduce((s, r, i) => {
    const z = r.map((x, c) => x + offset[c]);
    const l = lse(z);
    return s + targets[i].reduce((a, t, c) => a + t * (l - z[c]), 0);
  }, 0) / rows.length;
}

/** Rows as a float64 tensor [N, C]. */
export const logits = (rows: number[][]): Tensor =>
  tensor(rows.flat(), [rows.length, rows[0].length], "float64");
/** Labels as an int64 tensor [N]. */
export const labelsOf = (ys: number[]): Tensor =>
  tensor(BigInt64Array.from(ys.map(BigInt)), [ys.length]);
/** The scalar `fn` computes, its tensors freed. */
export const value = (fn: () => Tensor): number => scope(() => fn().item());

/** Asserts |actual - expected| <= tol. */
export function close(actual: number, expected: number, tol = 1e-12, msg = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} ${actual} vs ${expected}`);
}
