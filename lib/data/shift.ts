/**
 * Shifted test sets (label shift), by design.md's protocol: rank the classes
 * by training count (most frequent first, ties by class index); forward-R
 * gives rank k floor(m * (1/R)^(k/(C-1))) test samples, backward-R the
 * reverse, uniform keeps m, where m is the per-class test count. Each class
 * keeps its first n_c test samples in file order.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** A target class distribution relative to the training one. */
export interface Shift {
  /** uniform, forward (the training order, steeper or flatter) or backward (reversed). */
  kind: "uniform" | "forward" | "backward";
  /** Head-to-tail ratio R >= 1 (1 for uniform). */
  ratio: number;
  /** Canonical name: `uniform`, `forward10`, `backward2.5`. */
  name: string;
}

/** The paper's grid of target distributions. */
export const SHIFT_GRID: readonly string[] = [
  "forward50",
  "forward25",
  "forward10",
  "forward5",
  "forward2",
  "uniform",
  "backward2",
  "backward5",
  "backward10",
  "backward25",
  "backward50",
];

/**
 * Parses `uniform`, `forward10`, `forward-10`, `backward50`; throws an InputError on a bad name.
 *
 * @example Shift names
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShift } from "./mod.ts";
 *
 * assert.deepEqual(parseShift("forward-10"), { kind: "forward", ratio: 10, name: "forward10" });
 * assert.throws(() => parseShift("sideways"), /unknown shift 'sideways'/);
 * ```
 */
export function parseShift(name: string): Shift {
  const text = name.trim().toLowerCase();
  if (text === "uniform") return { kind: "uniform", ratio: 1, name: "uniform" };
  const m = /^(forward|backward)-?(\d+(?:\.\d+)?)$/.exec(text);
  const ratio = m ? Number(m[2]) : NaN;
  if (!m || !(ratio >= 1)) {
    throw new InputError(
      "shift",
      `unknown shift '${name}' (use uniform, forwardR or backwardR with R >= 1, e.g. forward10)`,
    );
  }
  return { kind: m[1] as "forward" | "backward", ratio, name: `${m[1]}${ratio}` };
}

/** Classes ranked by training count, most frequent first, ties by class index. */
export function rankClasses(trainCounts: readonly number[]): number[] {
  return trainCounts.map((_, c) => c).sort((a, b) => trainCounts[b] - trainCounts[a] || a - b);
}

/**
 * Per-class test counts of a shifted test set with `perClass` (m) samples per class at most.
 *
 * @example Test counts under forward and backward shifts
 * ```ts
 * import assert from "node:assert/strict";
 * import { shiftedCounts } from "./mod.ts";
 *
 * const train = [500, 50, 5]; // class 0 is the head
 * assert.deepEqual(shiftedCounts(train, 100, "forward100"), [100, 10, 1]);
 * assert.deepEqual(shiftedCounts(train, 100, "backward100"), [1, 10, 100]);
 * ```
 */
export function shiftedCounts(
  trainCounts: readonly number[],
  perClass: number,
  shift: string | Shift,
): number[] {
  const s = typeof shift === "string" ? parseShift(shift) : shift;
  if (!Number.isInteger(perClass) || perClass < 0) {
    throw new InputError("perClass", `must be a non-negative integer, got ${perClass}`);
  }
  const classes = trainCounts.length;
  const counts = new Array<number>(classes).fill(perClass);
  if (s.kind === "uniform" || classes < 2) return counts;
  const ranked = rankClasses(trainCounts);
  for (let k = 0; k < classes; k++) {
    const step = s.kind === "forward" ? k : classes - 1 - k;
    counts[ranked[k]] = Math.floor(perClass * Math.pow(1 / s.ratio, step / (classes - 1)));
  }
  return counts;
}

/**
 * Indices (ascending) of the shifted test set: the first n_c samples of each
 * class in file order, with n_c from shiftedCounts and m the smallest
 * per-class count of the test set (its per-class count when balanced).
 *
 * @example The first samples of each class, in file order
 * ```ts
 * import assert from "node:assert/strict";
 * import { shiftIndices } from "./mod.ts";
 *
 * const test = new Int32Array([0, 1, 0, 1, 0, 1, 0, 1]); // 4 per class
 * assert.deepEqual([...shiftIndices(test, [90, 10], "forward4")], [0, 1, 2, 4, 6]);
 * ```
 */
export function shiftIndices(
  testLabels: Int32Array,
  trainCounts: readonly number[],
  shift: string | Shift,
): Int32Array {
  const classes = trainCounts.length;
  const available = new Array<number>(classes).fill(0);
  for (const y of testLabels) {
    if (y < 0 || y >= classes) {
      throw new InputError(`test label ${y} outside the class range 0..${classes - 1}`);
    }
    available[y]++;
  }
  const m = Math.min(...available);
  const want = shiftedCounts(trainCounts, m, shift);
  const taken = new Array<number>(classes).fill(0);
  const out: number[] = [];
  for (let i = 0; i < testLabels.length; i++) {
    const y = testLabels[i];
    if (taken[y] < want[y]) {
      taken[y]++;
      out.push(i);
    }
  }
  return Int32Array.from(out);
}
