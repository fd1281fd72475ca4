/**
 * Mixup and CutMix of a training batch, as tensor ops on the batch (any
 * device), in the form BalPoE's official code uses them
 * (emasa/BalPoE-CalibratedLT, utils/combiner.py):
 *
 * - mixup (Zhang et al., ICLR 2018): lambda ~ Beta(alpha, alpha) once per
 *   batch, a random permutation `perm` of the batch, and the images
 *   lambda x + (1 - lambda) x[perm];
 * - CutMix (Yun et al., ICCV 2019): lambda ~ Beta(alpha, alpha), a box of
 *   side sqrt(1 - lambda) times the image's around a uniformly drawn centre
 *   (clipped at the borders), x[perm] pasted into it, and lambda set to the
 *   share of the image left unpasted;
 * - both asked for: each batch takes mixup or CutMix with probability 1/2
 *   (the official `mixup_cutmix`).
 *
 * The targets are the pair (labels, labels[perm]) with weight lambda; the
 * losses take them as lambda L(f, y) + (1 - lambda) L(f, y[perm])
 * (lib/losses/mixed.ts). Every draw of a batch comes from a generator seeded
 * by (seed, epoch, step) alone, so a resumed run mixes exactly as an
 * uninterrupted one.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { Generator, rand, randn, randperm } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { stepSeed } from "./sampler.ts";

/** How batches are mixed: the Beta distributions' alpha (0 or absent: off). */
export interface MixOptions {
  /** Mixup's alpha. */
  mixup?: number;
  /** CutMix's alpha. */
  cutmix?: number;
}

/** A mixed batch: the images, the second labels and the first labels' weight. */
export interface MixedBatch {
  /** The mixed images, shaped as the batch's. */
  images: Tensor;
  /** labels[perm] (int64 [N], on the labels' device). */
  labelsB: Tensor;
  /** The weight of the batch's own labels; 1 - lambda goes to `labelsB`. */
  lambda: number;
  /** Which of the two made it. */
  kind: "mixup" | "cutmix";
}

/** Keeps the mixing draws apart from other per-step draws (see stepSeed). */
const MIX_STREAM = 0x6d6978;

/** Uniform and standard normal numbers from a generator, drawn on the host in blocks. */
class Draws {
  #u: Float64Array = new Float64Array(0);
  #n: Float64Array = new Float64Array(0);
  #ui = 0;
  #ni = 0;

  constructor(readonly generator: Generator) {}

  /** A uniform number in [0, 1). */
  uniform(): number {
    if (this.#ui >= this.#u.length) {
      this.#u = scope(() =>
        rand([32], { generator: this.generator, dtype: "float64" }).toArray() as Float64Array
      );
      this.#ui = 0;
    }
    return this.#u[this.#ui++];
  }

  /** A standard normal number. */
  normal(): number {
    if (this.#ni >= this.#n.length) {
      this.#n = scope(() =>
        randn([32], { generator: this.generator, dtype: "float64" }).toArray() as Float64Array
      );
      this.#ni = 0;
    }
    return this.#n[this.#ni++];
  }
}

/** Gamma(shape, 1) by Marsaglia and Tsang's method (2000); shape < 1 by Gamma(shape + 1) U^(1/shape). */
function gammaSample(shape: number, d: Draws): number {
  if (shape < 1) {
    // 1 - uniform lies in (0, 1]: no log or power of 0.
    return gammaSample(shape + 1, d) * Math.pow(1 - d.uniform(), 1 / shape);
  }
  const a = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * a);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = d.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - d.uniform();
    if (u < 1 - 0.0331 * x ** 4) return a * v;
    if (Math.log(u) < 0.5 * x * x + a * (1 - v + Math.log(v))) return a * v;
  }
}

/**
 * A draw of Beta(a, b) (as X / (X + Y) of Gamma(a) and Gamma(b) draws) from
 * `generator`.
 */
export function betaSample(a: number, b: number, generator: Generator): number {
  for (const [name, v] of [["a", a], ["b", b]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new InputError(name, `must be > 0, got ${v}`);
  }
  const d = new Draws(generator);
  const x = gammaSample(a, d);
  const y = gammaSample(b, d);
  // Both can underflow to 0 for tiny shapes: then either end is as likely.
  return x + y > 0 ? x / (x + y) : d.uniform() < a / (a + b) ? 1 : 0;
}

function checkAlpha(name: string, v: number | undefined): number {
  const x = v ?? 0;
  if (!(Number.isFinite(x) && x >= 0)) throw new InputError(name, `must be >= 0, got ${v}`);
  return x;
}

/** Whether `options` mixes at all. */
export function mixes(options: MixOptions): boolean {
  return checkAlpha("mixup", options.mixup) > 0 || checkAlpha("cutmix", options.cutmix) > 0;
}

/**
 * The mixed batch of step `step` of epoch `epoch` of a run seeded `seed`:
 * `images` [N, C, H, W] and `labels` [N]; null when `options` mixes nothing.
 * The caller owns the returned tensors.
 */
export function mixBatch(
  images: Tensor,
  labels: Tensor,
  options: MixOptions,
  at: { seed: number; epoch: number; step: number },
): MixedBatch | null {
  const mixup = checkAlpha("mixup", options.mixup);
  const cutmix = checkAlpha("cutmix", options.cutmix);
  if (mixup === 0 && cutmix === 0) return null;
  if (images.ndim !== 4 || labels.ndim !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new InputError(
      "images",
      `expected [N, C, H, W] images and [N] labels, got [${images.shape}] and [${labels.shape}]`,
    );
  }
  using generator = new Generator(stepSeed(at.seed, at.epoch, at.step, MIX_STREAM));
  const d = new Draws(generator);
  const kind = mixup > 0 && cutmix > 0
    ? (d.uniform() < 0.5 ? "mixup" : "cutmix")
    : mixup > 0
    ? "mixup"
    : "cutmix";
  let lambda = betaSample(
    kind === "mixup" ? mixup : cutmix,
    kind === "mixup" ? mixup : cutmix,
    generator,
  );
  const n = images.shape[0];
  // The box's draws come before the permutation's, so that both are fixed
  // by the generator's order alone.
  let box: [number, number, number, number] | undefined;
  if (kind === "cutmix") {
    // utils/combiner.py rand_bbox: side int(S sqrt(1 - lambda)), centre
    // uniform over the pixels, half-sides floor(side / 2), clipped.
    const [h, w] = [images.shape[2], images.shape[3]];
    const cut = Math.sqrt(1 - lambda);
    const ch = Math.floor(h * cut);
    const cw = Math.floor(w * cut);
    const cy = Math.min(h - 1, Math.floor(d.uniform() * h));
    const cx = Math.min(w - 1, Math.floor(d.uniform() * w));
    const clip = (v: number, hi: number) => Math.max(0, Math.min(hi, v));
    const y1 = clip(cy - Math.floor(ch / 2), h);
    const y2 = clip(cy + Math.floor(ch / 2), h);
    const x1 = clip(cx - Math.floor(cw / 2), w);
    const x2 = clip(cx + Math.floor(cw / 2), w);
    box = [y1, y2, x1, x2];
    // The share of the image that stays the batch's own.
    lambda = 1 - ((y2 - y1) * (x2 - x1)) / (h * w);
  }
  return scope(() => {
    const perm = randperm(n, { generator });
    const permImages = perm.to(images.device);
    const other = images.indexSelect(0, permImages);
    const labelsB = labels.indexSelect(0, perm.to(labels.device));
    let mixed: Tensor;
    if (kind === "mixup") {
      mixed = images.mul(lambda).add(other.mul(1 - lambda));
    } else {
      mixed = images.clone();
      const [y1, y2, x1, x2] = box!;
      if (y2 > y1 && x2 > x1) {
        mixed.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1).copy_(
          other.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1),
        );
      }
    }
    return { images: mixed, labelsB, lambda, kind };
  });
}
