/**
 * ATLAS (Bai et al., NeurIPS 2022): UOGD with the step size learned online.
 * N base learners run UOGD with the step sizes eta_i = eta_1 2^(i - 1),
 * i = 1..N, N = 1 + ceil(log2(1 + 2T) / 2); a Hedge meta-learner weights
 * them by exp(-eps * their summed unbiased risks), eps = 2 sqrt(ln N / T),
 * and the classifier is the weighted mean of their layers. eta_1 =
 * R sigma / (G sqrt(C T)) with sigma the smallest singular value of the
 * confusion matrix, as the authors' code sets the pool (with the
 * confusion's smallest eigenvalue). The risks a learner is charged are
 * those of its layer before its step, which is the layer it predicted with.
 *
 * ```ts
 * import { AffineRisk, Atlas, mllsRoundEstimator, tensor } from "../../mod.ts";
 * using logits = tensor([2, 0, 1.5, 0.2, 0, 2, 0.3, 1], [4, 2]);
 * const risk = new AffineRisk(logits, Int32Array.from([0, 0, 1, 1]));
 * const atlas = new Atlas(risk, mllsRoundEstimator([0.5, 0.5]), {
 *   horizon: 10,
 *   confusionSigma: 0.6,
 * });
 * atlas.update([[0.9, 0.1]]);
 * console.assert(atlas.stepSizes.length === atlas.weights().length);
 * atlas.dispose();
 * risk.dispose();
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { type AffineRisk, held, projectToBall } from "./affine_risk.ts";
import type { OnlineMethod } from "./method.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import type { RoundEstimator } from "./round_estimate.ts";
import { projectToSimplex } from "./simplex.ts";
import { checkHorizon } from "./uogd.ts";

/** Options of {@link Atlas}. */
export interface AtlasOptions {
  /** Rounds T of the stream (sets the pool and the meta-learner's rate). */
  horizon: number;
  /** The smallest singular value sigma of the confusion matrix (sets eta_1). */
  confusionSigma: number;
  /** The radius of the ball the layers stay in (default sqrt(C), |W_0|). */
  radius?: number;
  /** The step sizes, instead of the default pool. */
  stepSizes?: readonly number[];
  /** The meta-learner's rate eps (default 2 sqrt(ln N / T)). */
  metaRate?: number;
}

/** UOGD learners over a pool of step sizes, combined by Hedge. */
export class Atlas implements OnlineMethod {
  /** "atlas". */
  readonly name = "atlas";
  /** Classes. */
  readonly classes: number;
  /** The base learners' step sizes. */
  readonly stepSizes: readonly number[];
  /** The meta-learner's rate. */
  readonly metaRate: number;
  /** The radius of the ball. */
  readonly radius: number;
  readonly #risk: AffineRisk;
  readonly #estimate: RoundEstimator;
  readonly #steps: Tensor;
  #layers: Tensor;
  readonly #cumulative: number[];

  /** `risk`: the labelled source data's risk; `estimate`: the per-round estimator. */
  constructor(risk: AffineRisk, estimate: RoundEstimator, options: AtlasOptions) {
    const T = options.horizon;
    checkHorizon(T);
    this.classes = risk.classes;
    this.#risk = risk;
    this.#estimate = estimate;
    this.radius = options.radius ?? Math.sqrt(this.classes);
    if (options.stepSizes === undefined) {
      const sigma = options.confusionSigma;
      if (!(sigma > 0 && Number.isFinite(sigma))) {
        throw new InputError(
          "confusionSigma",
          `must be a positive number (an invertible confusion matrix), got ${sigma}`,
        );
      }
      const n = 1 + Math.ceil(Math.log2(1 + 2 * T) / 2);
      const first = this.radius * sigma / (risk.gradientBound * Math.sqrt(this.classes * T));
      this.stepSizes = Array.from({ length: n }, (_, i) => first * 2 ** i);
    } else {
      this.stepSizes = [...options.stepSizes];
    }
    const n = this.stepSizes.length;
    if (n === 0 || this.stepSizes.some((s) => !(s > 0 && Number.isFinite(s)))) {
      throw new InputError("stepSizes", "must be one or more positive numbers");
    }
    this.metaRate = options.metaRate ?? 2 * Math.sqrt(Math.log(Math.max(n, 2)) / T);
    this.#cumulative = new Array<number>(n).fill(0);
    this.#steps = held(tensor(this.stepSizes, [n, 1, 1], "float64"));
    this.#layers = held(scope(() => {
      const w = risk.identityLayer();
      return w.expand(n, this.classes, this.classes + 1).contiguous();
    }));
  }

  /** The meta-learner's weights of the base learners: softmax(-eps * summed risks). */
  weights(): number[] {
    const scores = this.#cumulative.map((r) => -this.metaRate * r);
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / total);
  }

  /** null: ATLAS adapts the classifier, not a prior. */
  prior(): null {
    return null;
  }

  /** The weighted mean of the learners' layers, W [C, C + 1] (row-major). */
  layer(): Float64Array {
    const p = this.weights();
    return scope(() => {
      const w = tensor(p, [p.length, 1, 1], "float64");
      return this.#layers.mul(w).sum(0).toArray() as Float64Array;
    });
  }

  /** Charges each learner its risk under this round's estimate, then steps each. */
  update(probs: ProbsLike): void {
    const q = projectToSimplex(this.#estimate(probRows(probs, this.classes)));
    const next = scope(() => {
      const { risks, gradients } = this.#risk.evaluate(this.#layers, q);
      risks.forEach((r, i) => (this.#cumulative[i] += r));
      return projectToBall(this.#layers.sub(gradients.mul(this.#steps)), this.radius);
    });
    this.#layers.dispose();
    this.#layers = held(next);
  }

  /** Frees the layers. */
  dispose(): void {
    this.#layers.dispose();
    this.#steps.dispose();
  }
}
