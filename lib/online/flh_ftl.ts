/**
 * FLH-FTL (Baby et al., NeurIPS 2023): Follow the Leading History (Hazan and
 * Seshadhri 2009) over Follow-The-Leader experts. Every round starts a new
 * expert that averages the per-round estimates from that round on; the
 * prediction is the experts' weighted mean. After round t, with estimate
 * e_t, each expert's weight is multiplied by exp(-alpha |E_s - e_t|^2) (the
 * squared loss of what it predicted for round t) and renormalised; then
 * the weights shrink by t / (t + 1) and the expert started at round t gets
 * 1 / (t + 1). An expert started after the last change of q tracks it
 * without the old rounds' bias, and the weights find it: FLH's dynamic
 * regret is near-optimal for piecewise-stationary and slowly drifting q.
 *
 * The expert started at round s predicts (e_s + ... + e_t) / (t - s + 1),
 * from prefix sums of the estimates; t experts cost O(t C) a round.
 *
 * ```ts
 * import { FlhFtl } from "../../mod.ts";
 * const first = (p: { rows: number; classes: number; data: Float64Array }) =>
 *   Float64Array.from({ length: p.classes }, (_, c) => p.data[c]);
 * const flh = new FlhFtl(first, [0.5, 0.5], { alpha: 1 });
 * flh.update([[1, 0]]);
 * console.assert(flh.prior()[0] === 1); // one expert: the first estimate
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { OnlineMethod } from "./method.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import type { RoundEstimator } from "./round_estimate.ts";
import { checkDistribution, projectToSimplex } from "./simplex.ts";

/** Options of {@link FlhFtl}. */
export interface FlhFtlOptions {
  /** The exp-concavity rate alpha of the weight update (default 1 / C, as the authors' code). */
  alpha?: number;
}

/** Follow the Leading History over running-average experts. */
export class FlhFtl implements OnlineMethod {
  /** "flh-ftl". */
  readonly name = "flh-ftl";
  /** Classes. */
  readonly classes: number;
  /** The weight update's rate alpha. */
  readonly alpha: number;
  readonly #estimate: RoundEstimator;
  readonly #start: number[];
  /** prefix[t * C + c]: sum of the first t estimates' class c (prefix[0..C) = 0). */
  #prefix: Float64Array;
  /** log-weights of the experts started at rounds 0..t-1. */
  #logWeights: number[] = [];
  #rounds = 0;

  /** `estimate`: the per-round estimator; `start`: the prior before the first round. */
  constructor(estimate: RoundEstimator, start: readonly number[], options: FlhFtlOptions = {}) {
    this.classes = start.length;
    this.#estimate = estimate;
    this.#start = checkDistribution(start, this.classes, "start");
    this.alpha = options.alpha ?? 1 / this.classes;
    if (!(this.alpha > 0 && Number.isFinite(this.alpha))) {
      throw new InputError("alpha", `must be a positive number, got ${options.alpha}`);
    }
    this.#prefix = new Float64Array(64 * this.classes);
  }

  /** The experts' weights, normalised. */
  weights(): number[] {
    const m = Math.max(...this.#logWeights);
    const w = this.#logWeights.map((l) => Math.exp(l - m));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  }

  /** The weighted mean of the experts, projected onto the simplex. */
  prior(): number[] {
    const C = this.classes;
    const t = this.#rounds;
    if (t === 0) return [...this.#start];
    const w = this.weights();
    const mix = new Float64Array(C);
    // Expert s predicts (prefix_t - prefix_s) / (t - s).
    for (let s = 0; s < t; s++) {
      const f = w[s] / (t - s);
      for (let c = 0; c < C; c++) mix[c] += f * (this.#prefix[t * C + c] - this.#prefix[s * C + c]);
    }
    return projectToSimplex(mix);
  }

  /** Scores the experts on this round's estimate, then starts a new expert. */
  update(probs: ProbsLike): void {
    const C = this.classes;
    const e = this.#estimate(probRows(probs, C));
    const t = this.#rounds;
    if (t > 0) {
      for (let s = 0; s < t; s++) {
        let loss = 0;
        for (let c = 0; c < C; c++) {
          const x = (this.#prefix[t * C + c] - this.#prefix[s * C + c]) / (t - s);
          loss += (x - e[c]) ** 2;
        }
        this.#logWeights[s] -= this.alpha * loss;
      }
      // Normalise, shrink by t / (t + 1), and give the new expert 1 / (t + 1)
      // (in logs: an old expert's weight may be far below the smallest double).
      const m = Math.max(...this.#logWeights);
      const total = m + Math.log(this.#logWeights.reduce((a, l) => a + Math.exp(l - m), 0));
      const shrink = Math.log(t / (t + 1));
      this.#logWeights = this.#logWeights.map((l) => l - total + shrink);
      this.#logWeights.push(-Math.log(t + 1));
    } else {
      this.#logWeights = [0];
    }
    if ((t + 2) * C > this.#prefix.length) {
      const grown = new Float64Array(this.#prefix.length * 2);
      grown.set(this.#prefix);
      this.#prefix = grown;
    }
    for (let c = 0; c < C; c++) this.#prefix[(t + 1) * C + c] = this.#prefix[t * C + c] + e[c];
    this.#rounds++;
  }
}
