/**
 * Shot groups: the classes with many (> 100), medium (20..100) and few (< 20)
 * training images, the usual split for reporting long-tail accuracy.
 *
 * @module
 */

/** Class indices of each shot group. */
export interface ShotGroups {
  /** Classes with more than 100 training images. */
  many: number[];
  /** Classes with 20 to 100 training images. */
  medium: number[];
  /** Classes with fewer than 20 training images. */
  few: number[];
}

/**
 * Splits classes by their training counts: many > 100, medium 20..100, few < 20.
 *
 * @example Many, medium and few-shot classes
 * ```ts
 * import assert from "node:assert/strict";
 * import { shotGroups } from "./mod.ts";
 *
 * assert.deepEqual(shotGroups([500, 101, 100, 20, 19]), { many: [0, 1], medium: [2, 3], few: [4] });
 * ```
 */
export function shotGroups(trainCounts: readonly number[]): ShotGroups {
  const groups: ShotGroups = { many: [], medium: [], few: [] };
  trainCounts.forEach((n, c) => {
    if (n > 100) groups.many.push(c);
    else if (n >= 20) groups.medium.push(c);
    else groups.few.push(c);
  });
  return groups;
}
