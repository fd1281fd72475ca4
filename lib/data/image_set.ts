/**
 * Image sets: a view (some sample indices) of images that stay in native
 * memory. Small images (28, 32 px) live in one uint8 tensor [N, C, S, S];
 * image-list datasets keep file paths and are decoded when batches are made.
 * A subset shares the images: it holds a second handle to the same tensor.
 *
 * @module
 */

import { DisposedError, InputError } from "../errors.ts";
import type { Tensor } from "../torch/tensor.ts";
import { tensor } from "../torch/create.ts";
import { DEFAULT_MAX_IMAGE_PIXELS } from "./image_io.ts";
import type { ImageSet } from "./types.ts";

/** Composes a view's indices with positions into it; checks the range. */
function compose(base: Int32Array, positions: Int32Array): Int32Array {
  const out = new Int32Array(positions.length);
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i];
    if (!(p >= 0 && p < base.length)) {
      throw new InputError("indices", `subset index ${p} outside 0..${base.length - 1}`);
    }
    out[i] = base[p];
  }
  return out;
}

function pick(labels: Int32Array, indices: Int32Array): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = labels[indices[i]];
  return out;
}

function identity(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/** Samples held as one uint8 tensor [N, C, S, S] (the base), seen through `indices`. */
export class TensorImageSet implements ImageSet {
  readonly size: number;
  readonly labels: Int32Array;
  readonly channels: number;
  readonly imageSize: number;
  /** Positions of this view's samples in the base tensor. */
  readonly indices: Int32Array;
  /** Labels of every base sample. */
  readonly baseLabels: Int32Array;
  #images: Tensor | null;

  /** Takes ownership of `images` (uint8 [N, C, S, S]) with one label per image. */
  constructor(images: Tensor, baseLabels: Int32Array, indices?: Int32Array) {
    const [n, c, h, w] = images.shape;
    if (images.ndim !== 4 || h !== w || n !== baseLabels.length) {
      throw new InputError("images", "TensorImageSet needs uint8 images [N, C, S, S] and N labels");
    }
    this.#images = images;
    this.baseLabels = baseLabels;
    this.indices = indices ?? identity(n);
    this.labels = indices ? pick(baseLabels, this.indices) : baseLabels;
    this.size = this.indices.length;
    this.channels = c;
    this.imageSize = h;
  }

  /** The base images (all N, not only this view's); owned by this set. */
  get images(): Tensor {
    if (this.#images === null) throw new DisposedError("image set used after dispose()");
    return this.#images;
  }

  subset(indices: Int32Array): TensorImageSet {
    return new TensorImageSet(this.images.share(), this.baseLabels, compose(this.indices, indices));
  }

  /** This view's images as a new uint8 tensor [size, C, S, S] (for checks and small sets). */
  pixels(): Tensor {
    using index = tensor(this.indices, [this.size], "int64");
    return this.images.indexSelect(0, index);
  }

  dispose(): void {
    this.#images?.dispose();
    this.#images = null;
  }

  /** Frees the handle at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Samples held as image files (JPEG or PNG), decoded on native threads when batched. */
export class FileImageSet implements ImageSet {
  readonly size: number;
  readonly labels: Int32Array;
  readonly channels = 3;
  readonly imageSize: number;
  /** Positions of this view's samples in the base list. */
  readonly indices: Int32Array;
  /** Every base file path (absolute or relative to the working folder). */
  readonly basePaths: readonly string[];
  /** Labels of every base sample. */
  readonly baseLabels: Int32Array;
  /** The most pixels an image may have (larger ones fail before they are decoded). */
  readonly maxPixels: number;

  /**
   * A set of `paths` with one label each, yielding imageSize x imageSize
   * crops; images of more than `maxPixels` pixels are refused.
   */
  constructor(
    paths: readonly string[],
    baseLabels: Int32Array,
    imageSize: number,
    indices?: Int32Array,
    maxPixels: number = DEFAULT_MAX_IMAGE_PIXELS,
  ) {
    if (paths.length !== baseLabels.length) {
      throw new InputError("labels", "FileImageSet needs one label per path");
    }
    this.basePaths = paths;
    this.baseLabels = baseLabels;
    this.imageSize = imageSize;
    this.maxPixels = maxPixels;
    this.indices = indices ?? identity(paths.length);
    this.labels = indices ? pick(baseLabels, this.indices) : baseLabels;
    this.size = this.indices.length;
  }

  /** The path of this view's i-th sample. */
  path(i: number): string {
    return this.basePaths[this.indices[i]];
  }

  subset(indices: Int32Array): FileImageSet {
    return new FileImageSet(
      this.basePaths,
      this.baseLabels,
      this.imageSize,
      compose(this.indices, indices),
      this.maxPixels,
    );
  }

  dispose(): void {
    // Nothing native: files are decoded per batch.
  }

  /** Frees nothing; for `using` symmetry with TensorImageSet. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
