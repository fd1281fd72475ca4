/**
 * Errors of an estimated prior against the true one.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Checks that two priors have the same number of classes (an InputError for `q` otherwise). */
function sameLength(p: readonly number[], q: readonly number[]): void {
  if (p.length !== q.length) {
    throw new InputError("q", `has ${q.length} classes but p has ${p.length}`);
  }
}

/**
 * L1 distance sum_c |p_c - q_c|; p and q must have the same length.
 *
 * @example The L1 error of an estimate
 * ```ts
 * import assert from "node:assert/strict";
 * import { l1Distance } from "./mod.ts";
 *
 * assert.equal(l1Distance([0.5, 0.5], [0.25, 0.75]), 0.5);
 * ```
 */
export function l1Distance(p: readonly number[], q: readonly number[]): number {
  sameLength(p, q);
  return p.reduce((s, v, c) => s + Math.abs(v - q[c]), 0);
}

/**
 * KL(p || q) = sum_c p_c log(p_c / q_c), with q clipped at 1e-12 (p_c = 0 adds nothing).
 *
 * @example KL(p || q) by its formula
 * ```ts
 * import assert from "node:assert/strict";
 * import { klDivergence } from "./mod.ts";
 *
 * const expected = 0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75);
 * assert.ok(Math.abs(klDivergence([0.5, 0.5], [0.25, 0.75]) - expected) < 1e-12);
 * assert.equal(klDivergence([1, 0], [1, 0]), 0);
 * ```
 */
export function klDivergence(p: readonly number[], q: readonly number[]): number {
  sameLength(p, q);
  return p.reduce((s, v, c) => (v > 0 ? s + v * Math.log(v / Math.max(q[c], 1e-12)) : s), 0);
}
