/**
 * Colour jitter of image-list training batches, as the official LADE code ran
 * it for ImageNet-LT and Places-LT: torchvision's ColorJitter(brightness 0.4,
 * contrast 0.4, saturation 0.4, hue 0) on PIL images after the random-resized
 * crop and flip. That is Pillow's ImageEnhance, so every adjustment blends
 * with a degenerate image in float32 and truncates to uint8:
 *
 * - brightness f: blend with black, trunc(f * x);
 * - contrast f: blend with the grey level g = int(mean(L) + 0.5) of the
 *   (cropped) image, trunc(g + f * (x - g));
 * - saturation f: blend with the pixel's grey L, trunc(L + f * (x - L));
 *
 * clamped to 0..255, with L = (19595 R + 38470 G + 7471 B + 32768) >> 16
 * (Pillow's convert("L")). The three run in a random order (torchvision's
 * randperm), each factor uniform in [max(0, 1 - s), 1 + s]. The draws of a
 * sample are keyed by (seed, epoch, position in the epoch) like the crop
 * draws, from a stream of their own: an epoch replays exactly, and turning
 * jitter on leaves the crops and flips unchanged.
 *
 * The loader applies it natively (native/src/color_jitter.cpp); the
 * functions here expose the same draws and arithmetic for checks.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { checkPtr, checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { Tensor } from "../torch/tensor.ts";

/** Jitter strengths: brightness, contrast, saturation (0 turns one off). */
export type ColorJitterStrength = readonly [number, number, number];

/** One sample's jitter: factors (brightness, contrast, saturation) and the order they run in. */
export interface ColorJitterDraw {
  /** Factor per adjustment; 1 for one turned off. */
  factors: [number, number, number];
  /** A permutation of 0 (brightness), 1 (contrast), 2 (saturation). */
  order: [number, number, number];
}

/** `s` as three strengths (a number means all three), checked: finite and >= 0. */
export function colorJitterStrength(
  s: number | readonly number[],
  parameter = "colorJitter",
): ColorJitterStrength {
  const v = typeof s === "number" ? [s, s, s] : [...s];
  if (v.length !== 3 || !v.every((x) => Number.isFinite(x) && x >= 0)) {
    throw new InputError(
      parameter,
      `must be a number >= 0 or three (brightness, contrast, saturation), got ${JSON.stringify(s)}`,
    );
  }
  return [v[0], v[1], v[2]];
}

/**
 * The jitter the loader draws for the sample at `position` of epoch `epoch`.
 *
 * @example One sample's draw, the same on every call
 * ```ts
 * import assert from "node:assert/strict";
 * import { colorJitterDraw } from "./mod.ts";
 *
 * const draw = colorJitterDraw(0, 3, 17, 0.4);
 * assert.deepEqual(draw, colorJitterDraw(0, 3, 17, 0.4));
 * assert.ok(draw.factors.every((f) => f >= 0.6 && f <= 1.4));
 * assert.deepEqual([...draw.order].sort(), [0, 1, 2]);
 * ```
 */
export function colorJitterDraw(
  seed: number,
  epoch: number,
  position: number,
  strength: number | readonly number[],
): ColorJitterDraw {
  const s = Float32Array.from(colorJitterStrength(strength));
  const factors = new Float32Array(3);
  const order = new Int32Array(3);
  checkStatus(
    native().lade_color_jitter_draw(BigInt(seed), epoch, BigInt(position), s, factors, order),
    "colour jitter draw",
  );
  return {
    factors: [factors[0], factors[1], factors[2]],
    order: [order[0], order[1], order[2]],
  };
}

/**
 * A new uint8 image [3, H, W]: `image` jittered by `draw` (the loader's arithmetic).
 *
 * @example Brightness 0.5 halves every pixel
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyColorJitter } from "./mod.ts";
 * import { full } from "../torch/mod.ts";
 *
 * using image = full([3, 2, 2], 200, { dtype: "uint8" });
 * using dim = applyColorJitter(image, { factors: [0.5, 1, 1], order: [0, 1, 2] });
 * assert.ok(dim.toList().every((v) => v === 100));
 * ```
 */
export function applyColorJitter(image: Tensor, draw: ColorJitterDraw): Tensor {
  return new Tensor(checkPtr(
    native().lade_image_color_jitter(
      image.ptr,
      Float32Array.from(draw.factors),
      Int32Array.from(draw.order),
    ),
    "colour jitter",
  ));
}
