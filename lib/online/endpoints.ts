/**
 * The two marginals a schedule moves between, by name: `uniform`, `train`
 * (the training prior), `reversed` (the training prior with its values
 * reversed by rank: the rarest class gets the most frequent class's share,
 * the long tail turned around), and `onehot:K` (all mass on class K).
 * The default stream runs from `uniform` to `reversed`.
 *
 * ```ts
 * import { endpointPrior } from "../../mod.ts";
 * console.assert(endpointPrior("reversed", [30, 10])[0] === 0.25);
 * console.assert(endpointPrior("onehot:1", [30, 10])[1] === 1);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { inversePrior } from "../losses/sade.ts";
import { countsToPrior } from "../priors/source_prior.ts";
import { uniformPrior } from "./simplex.ts";

/** The named endpoints (`onehot:K` besides). */
export const ENDPOINTS: readonly string[] = ["uniform", "train", "reversed", "onehot:K"];

/**
 * The marginal called `name` for a model trained on `trainCounts`; `parameter` names the option.
 *
 * @example Marginals by name
 * ```ts
 * import assert from "node:assert/strict";
 * import { endpointPrior } from "./endpoints.ts";
 *
 * const trainCounts = [30, 10];
 * assert.deepEqual(endpointPrior("train", trainCounts), [0.75, 0.25]);
 * assert.deepEqual(endpointPrior("reversed", trainCounts), [0.25, 0.75]);
 * assert.deepEqual(endpointPrior("onehot:1", trainCounts), [0, 1]);
 * ```
 */
export function endpointPrior(
  name: string,
  trainCounts: readonly number[],
  parameter = "to",
): number[] {
  const classes = trainCounts.length;
  const text = name.trim().toLowerCase();
  if (text === "uniform") return uniformPrior(classes);
  if (text === "train") return countsToPrior(trainCounts);
  if (text === "reversed") return inversePrior(countsToPrior(trainCounts));
  const m = /^onehot:(\d+)$/.exec(text);
  if (m) {
    const k = Number(m[1]);
    if (k >= classes) {
      throw new InputError(parameter, `class ${k} of '${name}' is outside 0..${classes - 1}`);
    }
    return Array.from({ length: classes }, (_, c) => (c === k ? 1 : 0));
  }
  throw new InputError(
    parameter,
    `unknown marginal '${name}' (use uniform, train, reversed or onehot:K)`,
  );
}
