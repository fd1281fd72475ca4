/**
 * Random rotation of training batches, as torchvision's RandomRotation(d)
 * that SADE's CIFAR loader applies after the crop and flip
 * (Vanint/SADE-AgnosticLT, data_loader/cifar_data_loaders.py): each image
 * turned about its centre by an angle drawn uniformly from [-d, d] degrees,
 * nearest-neighbour sampling, the corners it uncovers black (0 before the
 * normalisation: -mean / std after it, the same thing since the
 * normalisation is per channel and affine). A tensor op on the batch (any
 * device). The angles of a batch come from a generator keyed by
 * (seed, epoch, step) and are drawn for the whole global batch, each rank
 * of a data-parallel run taking its share's, so a resumed run and any
 * number of ranks rotate every image alike.
 *
 * (PIL turns counter-clockwise for a positive angle; with angles drawn
 * symmetrically about 0 the direction does not matter.)
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { Generator, rand, tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import { affineGridSample, type Tensor } from "../torch/tensor.ts";
import { stepSeed } from "./sampler.ts";

/** Keeps the rotation draws apart from other per-step draws (see stepSeed). */
const ROTATION_STREAM = 0x726f74;

/**
 * The angles (degrees) of the images [start, start + count) of a global
 * batch of `total` at step `step` of epoch `epoch` of a run seeded `seed`.
 */
export function rotationAngles(
  degrees: number,
  at: { seed: number; epoch: number; step: number },
  total: number,
  start = 0,
  count = total - start,
): number[] {
  if (!(Number.isFinite(degrees) && degrees >= 0 && degrees <= 180)) {
    throw new InputError("rotation", `must be 0 to 180 degrees, got ${degrees}`);
  }
  if (!(start >= 0 && count >= 0 && start + count <= total)) {
    throw new InputError("start", `images [${start}, +${count}) of a batch of ${total}`);
  }
  using generator = new Generator(stepSeed(at.seed, at.epoch, at.step, ROTATION_STREAM));
  const u = scope(() => rand([total], { generator, dtype: "float64" }).toArray() as Float64Array);
  return Array.from(u.subarray(start, start + count), (v) => (2 * v - 1) * degrees);
}

/**
 * Normalised images [N, C, H, W] each turned by its angle (degrees) about
 * the centre, nearest neighbour, uncovered pixels at `fill` (per channel,
 * in the images' normalised units).
 */
export function rotateImages(
  images: Tensor,
  angles: readonly number[],
  fill: readonly number[],
): Tensor {
  if (images.ndim !== 4 || images.shape[0] !== angles.length) {
    throw new InputError(
      "images",
      `expected [N, C, H, W] images with N = ${angles.length} angles, got [${images.shape}]`,
    );
  }
  const [n, c, h, w] = images.shape;
  if (fill.length !== c) throw new InputError("fill", `needs ${c} values, one per channel`);
  return scope(() => {
    // Normalised coordinates run -1..1 along both sides: on a non-square
    // image the rotation is taken in pixel units (the aspect factors).
    const theta = new Float32Array(n * 6);
    angles.forEach((deg, i) => {
      const a = (deg * Math.PI) / 180;
      const cos = Math.cos(a), sin = Math.sin(a);
      theta.set([cos, -sin * (h / w), 0, sin * (w / h), cos, 0], i * 6);
    });
    const t = tensor(theta, [n, 2, 3]).to(images.device, images.dtype);
    const f = tensor(Float32Array.from(fill), [1, c, 1, 1]).to(images.device, images.dtype);
    // Zeros outside the image, so rotate images - fill and add it back.
    return affineGridSample(images.sub(f), t, { nearest: true }).add(f);
  });
}
