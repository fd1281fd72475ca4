/**
 * Class priors as the online methods handle them: checks, and the Euclidean
 * projection onto the probability simplex, which turns an average of
 * unbiased per-round estimates (BBSE's may be negative) into a prior.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** The uniform prior over `classes` classes. */
export function uniformPrior(classes: number): number[] {
  return new Array<number>(classes).fill(1 / classes);
}

/**
 * The point of the simplex nearest to `v` in Euclidean distance (Duchi et
 * al. 2008: sort, find the threshold theta, clip v - theta at 0).
 *
 * @example The nearest distribution
 * ```ts
 * import assert from "node:assert/strict";
 * import { projectToSimplex } from "./simplex.ts";
 *
 * assert.deepEqual(projectToSimplex([1.5, -0.5]), [1, 0]);
 * assert.deepEqual(projectToSimplex([0.75, 0.75]), [0.5, 0.5]);
 * ```
 */
export function projectToSimplex(v: ArrayLike<number>): number[] {
  const n = v.length;
  const sorted = Array.from(v).sort((a, b) => b - a);
  let cumulative = 0;
  let theta = 0;
  for (let k = 0; k < n; k++) {
    cumulative += sorted[k];
    const t = (cumulative - 1) / (k + 1);
    if (sorted[k] - t > 0) theta = t;
  }
  return Array.from(v, (x) => Math.max(x - theta, 0));
}

/**
 * Checks a class distribution: `classes` finite values >= 0 that sum to 1
 * within `tolerance`; returns it renormalised to sum to exactly 1. An
 * InputError naming `parameter` (and `where`, e.g. "row 3") otherwise.
 */
export function checkDistribution(
  values: readonly number[],
  classes: number,
  parameter: string,
  where = "",
  tolerance = 1e-3,
): number[] {
  const at = where === "" ? "" : `${where}: `;
  if (values.length !== classes) {
    throw new InputError(
      parameter,
      `${at}has ${values.length} values but the model has ${classes} classes`,
    );
  }
  const bad = values.findIndex((v) => typeof v !== "number" || !Number.isFinite(v) || v < 0);
  if (bad >= 0) {
    throw new InputError(
      parameter,
      `${at}value ${JSON.stringify(values[bad])} for class ${bad} is not a probability`,
    );
  }
  const total = values.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > tolerance) {
    throw new InputError(
      parameter,
      `${at}sums to ${Number(total.toPrecision(6))}, not 1 (a class distribution must sum to 1)`,
    );
  }
  return values.map((v) => v / total);
}
