/**
 * Single images through the native codecs (libjpeg-turbo, libpng): decoding
 * a file to a uint8 tensor and writing one (tests, benchmarks and fixtures).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { checkPtr, checkStatus, TorchError } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { toCString } from "../torch/strings.ts";
import { Tensor } from "../torch/tensor.ts";

/** Decodes a JPEG or PNG file to uint8 [C, H, W] (C 1 for grey, else 3); a bad file is an InputError. */
export function readImage(path: string): Tensor {
  try {
    return new Tensor(checkPtr(native().lade_image_read(toCString(path)), "reading an image"));
  } catch (e) {
    if (e instanceof TorchError) throw new InputError(e.message.replace(/^reading an image: /, ""));
    throw e;
  }
}

/**
 * An image file as evaluation sees it: the shorter side resized to
 * `resizeTo` (default: `size`), the centre `size` x `size` square, with
 * `channels` channels (colour turned grey for 1, grey repeated for 3).
 * uint8 [channels, size, size]; a missing or bad file is an InputError.
 */
export function prepareImage(
  path: string,
  size: number,
  channels: number,
  resizeTo = size,
): Tensor {
  try {
    return new Tensor(
      checkPtr(
        native().lade_image_prepare(toCString(path), size, resizeTo, channels),
        "reading an image",
      ),
    );
  } catch (e) {
    if (e instanceof TorchError) throw new InputError(e.message.replace(/^reading an image: /, ""));
    throw e;
  }
}

/** Writes uint8 [C, H, W] (C 1 or 3) as PNG or JPEG by the extension of `path`, atomically. */
export function writeImage(image: Tensor, path: string, quality = 95): void {
  checkStatus(native().lade_image_write(image.ptr, toCString(path), quality), `writing ${path}`);
}
