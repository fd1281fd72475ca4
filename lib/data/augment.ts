/**
 * The strong augmentation of SADE's test-time aggregation, as tensor ops on
 * a batch of normalised images (any device): the official test-time
 * transform (Vanint/SADE-AgnosticLT, test_training_cifar.py) is
 *
 *   RandomCrop(32, padding=4); RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p=0.8);
 *   RandomGrayscale(p=0.2); RandomApply(GaussianBlur(sigma in [0.1, 2]), p=0.2);
 *   RandomHorizontalFlip()
 *
 * Here the crop's padding and the blur's largest sigma scale with the image
 * side (S / 8 rounded half up, and 2 S / 32: 4 pixels and 1.75 for 28-pixel
 * images, 4 and 2 for 32), and the colour jitter applies brightness, contrast,
 * saturation and hue in that order (torchvision draws the order per image);
 * the hue shift is torchvision's tensor adjust_hue (through HSV). On grayscale
 * images saturation, hue and the grayscale conversion change nothing, so
 * brightness and contrast are the whole jitter there.
 * The blur is a true Gaussian (PIL approximates one with box filters),
 * separable, with the edges repeated. Pixels are clamped to [0, 1] after each
 * jitter step, as torchvision does. Every draw comes from the generator
 * given, on the host, so a seed gives the same views on every device.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { arange, type Generator, rand, tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import { cat, type Tensor, where } from "../torch/tensor.ts";

/** Strengths of the strong augmentation (defaults: SADE's, scaled to the image side). */
export interface StrongAugmentOptions {
  /** Padding of the random crop (default round(S / 8), SADE's 4 for 32 pixels). */
  pad?: number;
  /** Probability of the colour jitter (default 0.8). */
  jitterProbability?: number;
  /** Brightness, contrast and saturation factors are drawn from [1 - j, 1 + j] (default 0.4). */
  jitter?: number;
  /** The hue shift is drawn from [-h, h] of a turn (default 0.1; colour images). */
  hue?: number;
  /** Probability of converting colour images to grayscale (default 0.2). */
  grayscaleProbability?: number;
  /** Probability of the Gaussian blur (default 0.2). */
  blurProbability?: number;
  /** The blur's sigma range in pixels (default [0.1, 2 S / 32]). */
  blurSigma?: readonly [number, number];
  /** Probability of the horizontal flip (default 0.5). */
  flipProbability?: number;
}

/** What `strongAugment` needs besides the images. */
export interface StrongAugmentInput extends StrongAugmentOptions {
  /** The per-channel normalisation's mean (0..1 scale). */
  mean: readonly number[];
  /** The per-channel normalisation's standard deviation (0..1 scale). */
  std: readonly number[];
  /** Where the random draws come from. */
  generator: Generator;
}

/** The options with their defaults for images of side `size`. */
function resolve(o: StrongAugmentOptions, size: number): Required<StrongAugmentOptions> {
  const r = {
    pad: o.pad ?? Math.round(size / 8),
    jitterProbability: o.jitterProbability ?? 0.8,
    jitter: o.jitter ?? 0.4,
    hue: o.hue ?? 0.1,
    grayscaleProbability: o.grayscaleProbability ?? 0.2,
    blurProbability: o.blurProbability ?? 0.2,
    blurSigma: o.blurSigma ?? [0.1, (2 * size) / 32],
    flipProbability: o.flipProbability ?? 0.5,
  };
  if (!Number.isInteger(r.pad) || r.pad < 0) {
    throw new InputError("pad", `must be a non-negative integer, got ${r.pad}`);
  }
  for (
    const k of [
      "jitterProbability",
      "grayscaleProbability",
      "blurProbability",
      "flipProbability",
    ] as const
  ) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new InputError(k, `must be in [0, 1], got ${r[k]}`);
  }
  if (!(r.jitter >= 0 && r.jitter < 1)) {
    throw new InputError("jitter", `must be in [0, 1), got ${r.jitter}`);
  }
  if (!(r.hue >= 0 && r.hue <= 0.5)) {
    throw new InputError("hue", `must be in [0, 0.5], got ${r.hue}`);
  }
  const [lo, hi] = r.blurSigma;
  if (!(lo > 0 && hi >= lo && Number.isFinite(hi))) {
    throw new InputError("blurSigma", `must be 0 < low <= high, got [${lo}, ${hi}]`);
  }
  return r;
}

/** The draws of one image, as uniform numbers in [0, 1). */
const DRAWS = 10;

/** A per-image scalar [N, 1, 1, 1] on `like`'s device and dtype. */
function perImage(values: readonly number[], like: Tensor): Tensor {
  return scope(() =>
    tensor([...values], [values.length, 1, 1, 1], "float32").to(like.device, like.dtype)
  );
}

/** Luma (ITU-R 601, as torchvision's rgb_to_grayscale) [N, 1, S, S] of [N, 3, S, S]. */
function luma(x: Tensor): Tensor {
  return scope(() =>
    x.narrow(1, 0, 1).mul(0.299).add(x.narrow(1, 1, 1).mul(0.587)).add(
      x.narrow(1, 2, 1).mul(0.114),
    )
  );
}

/** `x` blended with `other`: f x + (1 - f) other, clamped to [0, 1]. */
function blend(x: Tensor, other: Tensor | number, f: Tensor): Tensor {
  return scope(() => x.mul(f).add(f.rsub(1).mul(other)).clamp(0, 1));
}

/** Random crops of side S from `x` [N, C, S, S] padded by `pad` with zeros. */
function randomCrop(x: Tensor, pad: number, dy: readonly number[], dx: readonly number[]): Tensor {
  if (pad === 0) return x.clone();
  return scope(() => {
    const [n, c, s] = x.shape;
    const p = x.pad([pad, pad, pad, pad]);
    const offsets = (v: readonly number[]) =>
      tensor(Int32Array.from(v), [n, 1, 1, 1], "int64").to(x.device);
    // Rows first: index [N, C, S, S + 2 pad] of rows dy + i; then columns dx + j.
    const rows = arange(s, undefined, 1, { device: x.device }).reshape(1, 1, s, 1)
      .add(offsets(dy)).expand(n, c, s, s + 2 * pad).contiguous();
    const cols = arange(s, undefined, 1, { device: x.device }).reshape(1, 1, 1, s)
      .add(offsets(dx)).expand(n, c, s, s).contiguous();
    return p.gather(2, rows).gather(3, cols);
  });
}

/**
 * Colour images `x` [N, 3, H, W] in [0, 1] with their hue turned by `shifts`
 * (a fraction of a turn per image): torchvision's adjust_hue on tensors
 * (RGB to HSV, h + shift mod 1, back to RGB).
 */
export function adjustHue(x: Tensor, shifts: readonly number[]): Tensor {
  return scope(() => {
    const [r, g, b] = [0, 1, 2].map((c) => x.narrow(1, c, 1));
    const maxc = x.max(1, true);
    const minc = x.min(1, true);
    const flat = maxc.eq(minc);
    const range = maxc.sub(minc);
    const s = range.div(maxc.maskedFill(flat, 1));
    const divisor = range.maskedFill(flat, 1);
    const [rc, gc, bc] = [r, g, b].map((c) => maxc.sub(c).div(divisor));
    const f = (m: Tensor) => m.to(x.dtype);
    const isR = maxc.eq(r);
    const isG = maxc.eq(g).logicalAnd(maxc.ne(r));
    const isB = maxc.ne(g).logicalAnd(maxc.ne(r));
    let h = f(isR).mul(bc.sub(gc))
      .add(f(isG).mul(rc.sub(bc).add(2)))
      .add(f(isB).mul(gc.sub(rc).add(4)));
    h = h.div(6).add(1).remainder(1).add(perImage(shifts, x)).remainder(1);
    // Back to RGB, with v = max.
    const v = maxc;
    const i = h.mul(6).floor();
    const frac = h.mul(6).sub(i);
    const p = v.mul(s.rsub(1)).clamp(0, 1);
    const q = v.mul(s.mul(frac).rsub(1)).clamp(0, 1);
    const t = v.mul(s.mul(frac.rsub(1)).rsub(1)).clamp(0, 1);
    const sector = i.remainder(6);
    const pick = (values: Tensor[]) => {
      let out: Tensor | undefined;
      values.forEach((val, k) => {
        const term = f(sector.eq(k)).mul(val);
        out = out === undefined ? term : out.add(term);
      });
      return out!;
    };
    return cat([pick([v, q, p, p, t, v]), pick([t, v, v, q, p, p]), pick([p, p, t, v, v, q])], 1);
  });
}

/**
 * Gaussian blur of `x` [N, C, S, S] with a sigma per image (0: none),
 * separable, over `radius` pixels each side, edges repeated.
 */
function gaussianBlur(x: Tensor, sigmas: readonly number[], radius: number): Tensor {
  const taps = 2 * radius + 1;
  const weights = sigmas.map((sigma) => {
    const w = Array.from({ length: taps }, (_, k) => {
      const d = k - radius;
      return sigma > 0 ? Math.exp(-(d * d) / (2 * sigma * sigma)) : d === 0 ? 1 : 0;
    });
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((v) => v / total);
  });
  return scope(() => {
    const along = (t: Tensor, dim: 2 | 3): Tensor => {
      const s = t.shape[dim];
      const first = t.narrow(dim, 0, 1);
      const last = t.narrow(dim, s - 1, 1);
      const shape = [...t.shape];
      shape[dim] = radius;
      const padded = cat([first.expand(...shape), t, last.expand(...shape)], dim);
      let out: Tensor | undefined;
      for (let k = 0; k < taps; k++) {
        const term = padded.narrow(dim, k, s).mul(perImage(weights.map((w) => w[k]), t));
        out = out === undefined ? term : out.add(term);
      }
      return out!;
    };
    return along(along(x, 2), 3);
  });
}

/**
 * A strongly augmented view of normalised images `images` [N, C, S, S]
 * (C 1 or 3, any device): SADE's test-time transform, with the draws from
 * `input.generator`. Returns normalised images of the same shape.
 *
 * @example Two augmented views of a batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { strongAugment } from "./mod.ts";
 * import { Generator, rand } from "../torch/mod.ts";
 *
 * using images = rand([2, 3, 32, 32]);
 * using generator = new Generator(0);
 * const input = { mean: [0, 0, 0], std: [1, 1, 1], generator };
 * using a = strongAugment(images, input);
 * using b = strongAugment(images, input);
 * assert.deepEqual(a.shape, [2, 3, 32, 32]);
 * assert.notDeepEqual(a.toList(), b.toList()); // the generator moved on
 * ```
 */
export function strongAugment(images: Tensor, input: StrongAugmentInput): Tensor {
  if (images.ndim !== 4 || images.shape[2] !== images.shape[3]) {
    throw new InputError("images", `expected [N, C, S, S] images, got shape [${images.shape}]`);
  }
  const [n, channels, size] = images.shape;
  if (channels !== 1 && channels !== 3) {
    throw new InputError("images", `expected 1 or 3 channels, got ${channels}`);
  }
  if (input.mean.length !== channels || input.std.length !== channels) {
    throw new InputError("mean", `needs ${channels} mean and std values`);
  }
  const o = resolve(input, size);
  // Every draw of the batch at once, on the host.
  const u = scope(() =>
    rand([n, DRAWS], { generator: input.generator, dtype: "float64" }).toArray() as Float64Array
  );
  const draw = (k: number) => Array.from({ length: n }, (_, i) => u[i * DRAWS + k]);
  const side = 2 * o.pad + 1;
  const dy = draw(0).map((v) => Math.min(side - 1, Math.floor(v * side)));
  const dx = draw(1).map((v) => Math.min(side - 1, Math.floor(v * side)));
  const jittered = draw(2).map((v) => v < o.jitterProbability);
  const factor = (k: number) =>
    draw(k).map((v, i) => (jittered[i] ? 1 - o.jitter + 2 * o.jitter * v : 1));
  const brightness = factor(3);
  const contrast = factor(4);
  const saturation = factor(5);
  const gray = draw(6).map((v) => v < o.grayscaleProbability);
  const [lo, hi] = o.blurSigma;
  const sigmas = draw(7).map((
    v,
    i,
  ) => (v < o.blurProbability ? lo + (hi - lo) * u[i * DRAWS + 8] : 0));
  const flips = draw(9).map((v) => v < o.flipProbability);
  const radius = Math.max(1, Math.ceil(3 * hi));
  // Hue shifts of colour images, drawn after the rest (grayscale views keep
  // the draws they had before the hue shift existed).
  const hues = channels === 3 && o.hue > 0
    ? scope(() =>
      Array.from(
        rand([n], { generator: input.generator, dtype: "float64" }).toArray() as Float64Array,
        (v, i) => (jittered[i] ? (2 * v - 1) * o.hue : 0),
      )
    )
    : undefined;

  return scope(() => {
    const shape = [1, channels, 1, 1];
    const mean = tensor([...input.mean], shape, "float32").to(images.device, images.dtype);
    const std = tensor([...input.std], shape, "float32").to(images.device, images.dtype);
    let x = images.mul(std).add(mean).clamp(0, 1);
    x = randomCrop(x, o.pad, dy, dx);
    // Colour jitter: brightness (blend with black), contrast (with the mean
    // of the image's luma), saturation (with its luma; colour images only).
    x = blend(x, 0, perImage(brightness, x));
    const lumaOf = (t: Tensor) => (channels === 3 ? luma(t) : t);
    x = blend(x, lumaOf(x).mean(3, true).mean(2, true), perImage(contrast, x));
    if (channels === 3) {
      x = blend(x, luma(x), perImage(saturation, x));
      if (hues !== undefined) x = adjustHue(x, hues);
      x = where(perImage(gray.map(Number), x).gt(0), luma(x).expand(n, 3, size, size), x);
    }
    if (sigmas.some((s) => s > 0)) x = gaussianBlur(x, sigmas, radius);
    x = where(perImage(flips.map(Number), x).gt(0), x.flip(3), x);
    return x.sub(mean).div(std);
  });
}
