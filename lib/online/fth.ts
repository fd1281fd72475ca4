/**
 * Follow The History (FTH; Wu et al., NeurIPS 2021): the running average of
 * all per-round estimates so far, projected onto the simplex. The best fixed
 * prior in hindsight: right for a stationary stream, slow for a drifting one.
 *
 * ```ts
 * import { FollowTheHistory } from "../../mod.ts";
 * // A per-round estimator that returns the round's mean probability.
 * const mean = (p: { rows: number; classes: number; data: Float64Array }) =>
 *   Float64Array.from({ length: p.classes }, (_, c) => p.data[c]);
 * const fth = new FollowTheHistory(mean, [0.5, 0.5]);
 * fth.update([[1, 0]]);
 * fth.update([[0, 1]]);
 * console.assert(fth.prior()[0] === 0.5);
 * ```
 *
 * @module
 */

import type { OnlineMethod } from "./method.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import type { RoundEstimator } from "./round_estimate.ts";
import { checkDistribution, projectToSimplex } from "./simplex.ts";

/** The average of the per-round estimates. */
export class FollowTheHistory implements OnlineMethod {
  /** "fth". */
  readonly name = "fth";
  /** Classes. */
  readonly classes: number;
  readonly #estimate: RoundEstimator;
  readonly #start: number[];
  readonly #sum: Float64Array;
  #rounds = 0;

  /** `estimate`: the per-round estimator; `start`: the prior before the first round. */
  constructor(estimate: RoundEstimator, start: readonly number[]) {
    this.classes = start.length;
    this.#estimate = estimate;
    this.#start = checkDistribution(start, this.classes, "start");
    this.#sum = new Float64Array(this.classes);
  }

  /** The projected average of the estimates so far. */
  prior(): number[] {
    if (this.#rounds === 0) return [...this.#start];
    return projectToSimplex(this.#sum.map((v) => v / this.#rounds));
  }

  /** Adds this round's estimate to the average. */
  update(probs: ProbsLike): void {
    const e = this.#estimate(probRows(probs, this.classes));
    for (let c = 0; c < this.classes; c++) this.#sum[c] += e[c];
    this.#rounds++;
  }
}
