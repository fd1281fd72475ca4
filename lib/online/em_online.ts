/**
 * Online EM of the class prior (stochastic-approximation EM, in the line of
 * the online prior re-estimation of Yang and Zhou, Pattern Recognition
 * 2008): each round moves the estimate a step of size eta toward the EM
 * update on that round alone,
 * q <- (1 - eta) q + eta * mean_i p_q(y | x_i),
 * where p_q re-weights the calibrated posterior to prior q. A constant step
 * forgets old rounds geometrically (memory about 1 / eta rounds), which is
 * what lets it follow a drifting prior. The evaluation's default step is
 * 1 / sqrt(T), online gradient descent's step for a horizon of T rounds.
 *
 * ```ts
 * import { OnlineEm } from "../../mod.ts";
 * const em = new OnlineEm([0.5, 0.5], { stepSize: 0.5 });
 * em.update([[0.9, 0.1]]);
 * console.assert(Math.abs(em.prior()[0] - 0.7) < 1e-12); // 0.5 * 0.5 + 0.5 * 0.9
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { OnlineMethod } from "./method.ts";
import { addReweightedMean, priorRatio } from "./mlls.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import { checkDistribution } from "./simplex.ts";

/** Options of {@link OnlineEm}. */
export interface OnlineEmOptions {
  /** The step size eta in (0, 1] (default 0.05; `evaluate` uses 1 / sqrt(T), 0.045 for T = 500). */
  stepSize?: number;
  /** The estimate before the first round (default `reference`). */
  start?: readonly number[];
}

/** One damped EM step per round. */
export class OnlineEm implements OnlineMethod {
  /** "em-online". */
  readonly name = "em-online";
  /** Classes. */
  readonly classes: number;
  /** The step size eta. */
  readonly stepSize: number;
  readonly #reference: number[];
  #prior: Float64Array;

  /** `reference`: the prior the posteriors are calibrated to. */
  constructor(reference: readonly number[], options: OnlineEmOptions = {}) {
    this.classes = reference.length;
    this.#reference = checkDistribution(reference, this.classes, "reference");
    this.stepSize = options.stepSize ?? 0.05;
    if (!(this.stepSize > 0 && this.stepSize <= 1)) {
      throw new InputError("stepSize", `must be in (0, 1], got ${options.stepSize}`);
    }
    this.#prior = Float64Array.from(
      checkDistribution(options.start ?? this.#reference, this.classes, "start"),
    );
  }

  /** The current estimate. */
  prior(): number[] {
    return Array.from(this.#prior);
  }

  /** One step toward the EM update on this round. */
  update(probs: ProbsLike): void {
    const p = probRows(probs, this.classes);
    if (p.rows === 0) return;
    const next = this.#prior.map((v) => (1 - this.stepSize) * v);
    addReweightedMean([p], priorRatio(this.#prior, this.#reference), next, this.stepSize);
    const total = next.reduce((a, b) => a + b, 0);
    this.#prior = next.map((v) => v / total);
  }
}
