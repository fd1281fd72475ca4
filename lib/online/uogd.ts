/**
 * UOGD (Bai et al., NeurIPS 2022): online gradient descent on the unbiased
 * risk estimate (affine_risk.ts). After round t, with q_hat_t the per-round
 * estimate projected onto the simplex,
 * W <- Proj_ball(W - eta grad R_t(W)),
 * the ball of radius R = |W_0| (W_0 = [I | 0], the model as trained). The
 * step is OGD's eta = D / (G sqrt(T)) for the ball's diameter D = 2R, the
 * gradient bound G and the horizon T, as the authors' code sets it
 * (2 |W_0| / (G sqrt(T))).
 *
 * ```ts
 * import { AffineRisk, mllsRoundEstimator, tensor, Uogd } from "../../mod.ts";
 * // Labelled source logits of two classes, and an adapter over 10 rounds.
 * using logits = tensor([2, 0, 1.5, 0.2, 0, 2, 0.3, 1], [4, 2]);
 * const risk = new AffineRisk(logits, Int32Array.from([0, 0, 1, 1]));
 * const uogd = new Uogd(risk, mllsRoundEstimator([0.5, 0.5]), { horizon: 10 });
 * uogd.update([[0.9, 0.1], [0.8, 0.2]]);
 * const w = uogd.layer(); // W [2, 3] for the next round
 * console.assert(w.length === 6 && uogd.prior() === null);
 * uogd.dispose();
 * risk.dispose();
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { type AffineRisk, held, projectToBall } from "./affine_risk.ts";
import type { OnlineMethod } from "./method.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import type { RoundEstimator } from "./round_estimate.ts";
import { projectToSimplex } from "./simplex.ts";

/** Options of {@link Uogd}. */
export interface UogdOptions {
  /** Rounds T of the stream (sets the default step size). */
  horizon: number;
  /** The step size (default 2 |W_0| / (G sqrt(T))). */
  stepSize?: number;
  /** The radius of the ball W stays in (default |W_0| = sqrt(C)). */
  radius?: number;
}

/** Checks a horizon T. */
export function checkHorizon(horizon: number): void {
  if (!Number.isInteger(horizon) || horizon < 1) {
    throw new InputError("horizon", `must be a positive integer (the rounds), got ${horizon}`);
  }
}

/** Online gradient descent of an affine layer on the unbiased risk. */
export class Uogd implements OnlineMethod {
  /** "uogd". */
  readonly name = "uogd";
  /** Classes. */
  readonly classes: number;
  /** The step size eta. */
  readonly stepSize: number;
  /** The radius of the ball. */
  readonly radius: number;
  readonly #risk: AffineRisk;
  readonly #estimate: RoundEstimator;
  #layer: Tensor;

  /** `risk`: the labelled source data's risk; `estimate`: the per-round estimator. */
  constructor(risk: AffineRisk, estimate: RoundEstimator, options: UogdOptions) {
    checkHorizon(options.horizon);
    this.classes = risk.classes;
    this.#risk = risk;
    this.#estimate = estimate;
    this.radius = options.radius ?? Math.sqrt(this.classes);
    this.stepSize = options.stepSize ??
      2 * this.radius / (risk.gradientBound * Math.sqrt(options.horizon));
    for (const [name, v] of [["stepSize", this.stepSize], ["radius", this.radius]] as const) {
      if (!(v > 0 && Number.isFinite(v))) {
        throw new InputError(name, `must be a positive number, got ${v}`);
      }
    }
    this.#layer = held(risk.identityLayer());
  }

  /** null: UOGD adapts the classifier, not a prior. */
  prior(): null {
    return null;
  }

  /** W [C, C + 1] (row-major) for the next round. */
  layer(): Float64Array {
    return this.#layer.toArray() as Float64Array;
  }

  /** One projected gradient step on the risk under this round's estimate. */
  update(probs: ProbsLike): void {
    const q = projectToSimplex(this.#estimate(probRows(probs, this.classes)));
    const next = scope(() => {
      const { gradients } = this.#risk.evaluate(this.#layer, q);
      return projectToBall(this.#layer.sub(gradients.mul(this.stepSize)), this.radius);
    });
    this.#layer.dispose();
    this.#layer = held(next);
  }

  /** Frees the layer. */
  dispose(): void {
    this.#layer.dispose();
  }
}
