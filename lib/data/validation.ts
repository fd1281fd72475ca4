/**
 * The held-out validation split: labelled images of the training
 * distribution's classes that the model never trains on, for calibration,
 * BBSE's confusion matrix and model selection (the test set is for none of
 * them).
 *
 * `valPerClass` K holds out K images of every class (a number in (0, 1): that
 * fraction of each class, rounded down) from the full training split BEFORE
 * the long tail is built, with a seeded shuffle of each class's images. The
 * long tail is then built from what is left with the full split's n_max, so
 * every class keeps its long-tail count except a class that has fewer images
 * left than its count (with a balanced source, only the head class: it keeps
 * n_max - K). The validation split is therefore balanced (K per class), like
 * ImageNet-LT's and Places-LT's validation lists (20 per class), and
 * disjoint from training. Holding out after the long tail would take the
 * tail classes' few images (CIFAR-100-LT's rarest class has 5).
 *
 * Which images are held out depends on `seed` through a generator of its own
 * (seeded with 2^40 + seed), not the one the long tail draws with.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { Generator, randperm } from "../torch/create.ts";

/** The generator seed of the held-out draw for a run seed. */
export function validationSeed(seed: number): bigint {
  return (1n << 40n) + BigInt(seed);
}

/** Checks a `valPerClass` value: an integer >= 1, or a fraction in (0, 1). */
export function checkValPerClass(k: number, parameter = "valPerClass"): void {
  const ok = Number.isFinite(k) && ((k > 0 && k < 1) || (Number.isInteger(k) && k >= 1));
  if (!ok) {
    throw new InputError(
      parameter,
      `must be a whole number of images per class (>= 1) or a fraction in (0, 1), got ${k}`,
    );
  }
}

/** Images held out of class c with `size` images: K, or floor(fraction * size). */
export function heldOutCount(k: number, size: number): number {
  return k < 1 ? Math.floor(k * size) : k;
}

/**
 * Splits `labels` (positions 0..N-1) into a validation part (K per class, or
 * a fraction of each) and the rest, both ascending. A class that would keep
 * no training image is an InputError.
 *
 * @example One image of each class held out
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdOutPerClass } from "./mod.ts";
 *
 * const labels = new Int32Array([0, 0, 1, 1, 1]);
 * const { val, rest } = holdOutPerClass(labels, 2, 1, 0);
 * assert.deepEqual([...val].map((i) => labels[i]), [0, 1]);
 * assert.equal(val.length + rest.length, labels.length);
 * ```
 */
export function holdOutPerClass(
  labels: Int32Array,
  classes: number,
  valPerClass: number,
  seed: number,
  parameter = "valPerClass",
): { val: Int32Array; rest: Int32Array } {
  checkValPerClass(valPerClass, parameter);
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const val: number[] = [];
  const held = new Uint8Array(labels.length);
  using gen = new Generator(validationSeed(seed));
  for (let c = 0; c < classes; c++) {
    const members = byClass[c];
    if (members.length === 0) continue;
    const n = heldOutCount(valPerClass, members.length);
    if (n >= members.length) {
      throw new InputError(
        parameter,
        `class ${c} has ${members.length} training image(s); holding out ${n} would leave none ` +
          "(use a smaller value, or a validation list for image lists)",
      );
    }
    using perm = randperm(members.length, { generator: gen });
    const order = perm.toArray() as BigInt64Array;
    for (let k = 0; k < n; k++) {
      const i = members[Number(order[k])];
      val.push(i);
      held[i] = 1;
    }
  }
  const rest: number[] = [];
  for (let i = 0; i < labels.length; i++) if (!held[i]) rest.push(i);
  return { val: Int32Array.from(val).sort(), rest: Int32Array.from(rest) };
}
