/**
 * The unbiased risk estimate of UOGD and ATLAS (Bai et al., NeurIPS 2022)
 * for an affine layer on the model's logits. Under label shift the risk on
 * round t's distribution is R_t(W) = sum_y q_t(y) R_y(W), with R_y the mean
 * loss on class y, which labelled source data estimate without bias (the
 * class-conditional distributions do not shift). With q_t replaced by a
 * per-round estimate q_hat_t (BBSE from the confusion matrix, or MLLS), the
 * risk, and its gradient, come from labelled source data and round t's
 * unlabelled samples alone.
 *
 * lade has a model's logits z, not its features, so "the last layer" the
 * methods update is an affine layer on z: logits W [z, 1], W of C rows of
 * C + 1, started at [I | 0] (the model as trained). The loss is the cross
 * entropy. Several layers (ATLAS's base learners) are evaluated at once,
 * W [L, C, C + 1], in libtorch.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { labelTensor } from "../data/labels.ts";
import { ones, tensor } from "../torch/create.ts";
import { scope, untrack } from "../torch/memory.ts";
import { cat, type Tensor } from "../torch/tensor.ts";

/** The q-weighted class-conditional cross entropy on labelled source logits, and its gradient. */
export class AffineRisk {
  /** Classes. */
  readonly classes: number;
  /** Labelled samples. */
  readonly samples: number;
  /** sqrt(2) max_i |[z_i, 1]|: a bound on the norm of any sample's loss gradient in W. */
  readonly gradientBound: number;
  /** [z, 1] of the labelled samples, float32 [M, C + 1]. */
  readonly #features: Tensor;
  /** One-hot labels, float32 [M, C]. */
  readonly #onehot: Tensor;
  /** Samples of each class (0 for a class without any). */
  readonly #counts: number[];

  /** `logits` [M, C]: the model's logits of labelled source samples; `labels` their classes. */
  constructor(logits: Tensor, labels: Int32Array) {
    if (logits.ndim !== 2 || logits.shape[0] !== labels.length || labels.length === 0) {
      throw new InputError(
        "source",
        `need [M, C] logits of M >= 1 labelled samples, got [${logits.shape}] for ${labels.length} labels`,
      );
    }
    this.classes = logits.shape[1];
    this.samples = labels.length;
    this.#counts = new Array<number>(this.classes).fill(0);
    for (const y of labels) {
      if (y < 0 || y >= this.classes) {
        throw new InputError("source", `label ${y} outside 0..${this.classes - 1}`);
      }
      this.#counts[y]++;
    }
    const [features, onehot, bound] = scope(() => {
      const z = logits.to("cpu", "float32");
      const f = cat([z, ones([this.samples, 1])], 1);
      const maxNorm = f.square().sum(1).max().sqrt().item();
      return [
        f.contiguous(),
        labelTensor(labels).oneHot(this.classes).to("float32"),
        Math.SQRT2 * maxNorm,
      ] as const;
    });
    this.#features = held(features);
    this.#onehot = held(onehot);
    this.gradientBound = bound;
  }

  /** The layer of the model as trained, [I | 0], as float64 [1, C, C + 1]. */
  identityLayer(): Tensor {
    const C = this.classes;
    const w = new Float64Array(C * (C + 1));
    for (let c = 0; c < C; c++) w[c * (C + 1) + c] = 1;
    return tensor(w, [1, C, C + 1]);
  }

  /**
   * The risk sum_y q(y) R_y(W) of each layer of `layers` [L, C, C + 1] and
   * its gradient [L, C, C + 1]; a class without labelled samples adds
   * nothing. `q` should be a distribution (the methods project estimates).
   */
  evaluate(layers: Tensor, q: readonly number[]): { risks: number[]; gradients: Tensor } {
    const C = this.classes;
    if (q.length !== C) throw new InputError("q", `has ${q.length} classes, expected ${C}`);
    return scope(() => {
      // Each sample weighs q(y) / n_y: the class means of the loss, mixed by q.
      const perClass = tensor(q.map((v, c) => (this.#counts[c] > 0 ? v / this.#counts[c] : 0)), [
        C,
      ], "float32");
      const weights = this.#onehot.matmul(perClass.unsqueeze(1)); // [M, 1]
      // float32 for the [L, M, C] work; the layers (and their steps) stay float64.
      const logits = this.#features.matmul(layers.to("float32").transpose(1, 2)); // [L, M, C]
      const logp = logits.logSoftmax(2);
      const risks = logp.mul(this.#onehot).sum(2).neg().mul(weights.squeeze(1)).sum(1);
      const residual = logp.exp().sub(this.#onehot).mul(weights); // [L, M, C]
      const gradients = residual.transpose(1, 2).matmul(this.#features).to("float64"); // [L, C, C + 1]
      return { risks: risks.to("float64").toList(), gradients };
    });
  }

  /** Frees the labelled data's tensors. */
  dispose(): void {
    this.#features.dispose();
    this.#onehot.dispose();
  }
}

/** `t`, owned by its holder (an adapter, a risk) rather than by any enclosing scope(). */
export function held(t: Tensor): Tensor {
  untrack(t);
  return t;
}

/** Layers [L, C, C + 1] scaled into the Frobenius ball of `radius` (those inside stay). */
export function projectToBall(layers: Tensor, radius: number): Tensor {
  return scope(() => {
    const norms = layers.square().sum(2).sum(1).sqrt(); // [L]
    const factor = norms.clamp(radius).rdiv(radius); // min(1, radius / norm)
    return layers.mul(factor.unsqueeze(1).unsqueeze(2));
  });
}
