/**
 * Long-tail construction from a balanced training set (CIFAR-LT style), as
 * design.md fixes it: class c keeps n_c = floor(n_max * (1/R)^(c/(C-1)))
 * samples (exp), or n_max for the first half of the classes and
 * floor(n_max / R) for the rest (step); which samples a class keeps is a
 * seeded shuffle of its indices.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { Generator, randperm } from "../torch/create.ts";

/** How class counts fall from the head to the tail. */
export type ImbalanceType = "exp" | "step";

/** Throws an InputError for `parameter` unless `ratio` is a finite number >= 1. */
export function checkRatio(ratio: number, parameter = "ratio"): void {
  if (!Number.isFinite(ratio) || ratio < 1) {
    throw new InputError(parameter, `must be a number >= 1, got ${ratio}`);
  }
}

/**
 * Per-class training counts of a long-tailed set: class 0 keeps `nMax`, the
 * last class floor(nMax / ratio). `ratio` 1 keeps every class at `nMax`.
 *
 * @example CIFAR-style exponential and step profiles
 * ```ts
 * import assert from "node:assert/strict";
 * import { longTailCounts } from "./mod.ts";
 *
 * assert.deepEqual(longTailCounts(100, 3, 100), [100, 10, 1]);
 * assert.deepEqual(longTailCounts(100, 4, 10, "step"), [100, 100, 10, 10]);
 * ```
 */
export function longTailCounts(
  nMax: number,
  classes: number,
  ratio: number,
  type: ImbalanceType = "exp",
): number[] {
  if (!Number.isInteger(nMax) || nMax < 0) {
    throw new InputError("nMax", `must be a non-negative integer, got ${nMax}`);
  }
  if (!Number.isInteger(classes) || classes < 1 || classes > 1_000_000) {
    throw new InputError("classes", `must be an integer from 1 to 1000000, got ${classes}`);
  }
  checkRatio(ratio);
  if (type !== "exp" && type !== "step") {
    throw new InputError("type", `unknown imbalance type '${type}' (use exp or step)`);
  }
  const counts: number[] = [];
  for (let c = 0; c < classes; c++) {
    if (type === "step") {
      counts.push(c < Math.floor(classes / 2) ? nMax : Math.floor(nMax / ratio));
    } else {
      const power = classes === 1 ? 0 : c / (classes - 1);
      counts.push(Math.floor(nMax * Math.pow(1 / ratio, power)));
    }
  }
  return counts;
}

/**
 * Number of samples of each class among `labels` (labels must lie in 0..classes-1).
 *
 * @example Samples per class
 * ```ts
 * import assert from "node:assert/strict";
 * import { classCounts } from "./mod.ts";
 *
 * assert.deepEqual(classCounts(new Int32Array([0, 2, 2, 2]), 3), [1, 0, 3]);
 * ```
 */
export function classCounts(labels: Int32Array, classes: number): number[] {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new InputError("classes", `must be a positive integer, got ${classes}`);
  }
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y < 0 || y >= classes) {
      throw new InputError("labels", `label ${y} at index ${i} is outside 0..${classes - 1}`);
    }
    counts[y]++;
  }
  return counts;
}

/**
 * The indices (ascending, i.e. in file order) of a long-tailed selection:
 * for each class in order, its indices shuffled with a generator seeded with
 * `seed`, the first `counts[c]` kept (all of them when the class has fewer).
 */
export function longTailIndices(
  labels: Int32Array,
  counts: readonly number[],
  seed: number,
): Int32Array {
  const classes = counts.length;
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const keep: number[] = [];
  using gen = new Generator(seed);
  for (let c = 0; c < classes; c++) {
    const members = byClass[c];
    const n = Math.min(counts[c], members.length);
    if (n === 0) continue;
    if (n === members.length) {
      for (const m of members) keep.push(m);
      continue;
    }
    using perm = randperm(members.length, { generator: gen });
    const order = perm.toArray() as BigInt64Array;
    for (let k = 0; k < n; k++) keep.push(members[Number(order[k])]);
  }
  return Int32Array.from(keep).sort();
}
