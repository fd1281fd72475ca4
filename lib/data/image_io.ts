/**
 * Single images through the native codecs (libjpeg-turbo, libpng): decoding
 * a file to a uint8 tensor and writing one (tests, benchmarks and fixtures),
 * and the pixel limit every decoder checks before it allocates.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { checkPtr, checkStatus, TorchError } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { toCString } from "../torch/strings.ts";
import { Tensor } from "../torch/tensor.ts";

/**
 * The default limit on an image's pixels (width x height), Pillow's
 * MAX_IMAGE_PIXELS (about 89.5 megapixels): a header that claims more is
 * refused before any pixel is allocated (a decompression bomb, or a damaged
 * size field). Raise it with `maxImagePixels` for larger images.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 89_478_485;

/** The largest pixel limit that can be set (2^40, a terapixel). */
export const MAX_IMAGE_PIXELS_LIMIT = 2 ** 40;

/** Checks a pixel limit (`maxImagePixels`): an integer from 1 to 2^40. */
export function checkMaxPixels(value: number, parameter = "maxImagePixels"): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_IMAGE_PIXELS_LIMIT) {
    throw new InputError(parameter, `must be an integer from 1 to 2^40, got ${value}`);
  }
  return value;
}

/** A decoder's message, with how to raise the pixel limit when that is what it hit. */
export function imageErrorMessage(message: string): string {
  return /over the limit of \d+ pixels/.test(message)
    ? `${message} (raise the limit with \`maxImagePixels\`)`
    : message;
}

/**
 * Decodes a JPEG or PNG file to uint8 [C, H, W] (C 1 for grey, else 3); a bad
 * file (corrupt data, more than `maxPixels` pixels) is an InputError.
 */
export function readImage(path: string, maxPixels: number = DEFAULT_MAX_IMAGE_PIXELS): Tensor {
  checkMaxPixels(maxPixels);
  try {
    return new Tensor(
      checkPtr(native().lade_image_read(toCString(path), BigInt(maxPixels)), "reading an image"),
    );
  } catch (e) {
    if (e instanceof TorchError) {
      throw new InputError(imageErrorMessage(e.message.replace(/^reading an image: /, "")));
    }
    throw e;
  }
}

/**
 * An image file as evaluation sees it: the shorter side resized to
 * `resizeTo` (default: `size`), the centre `size` x `size` square, with
 * `channels` channels (colour turned grey for 1, grey repeated for 3).
 * uint8 [channels, size, size]; a missing or bad file (corrupt data, more
 * than `maxPixels` pixels) is an InputError.
 */
export function prepareImage(
  path: string,
  size: number,
  channels: number,
  resizeTo = size,
  maxPixels: number = DEFAULT_MAX_IMAGE_PIXELS,
): Tensor {
  checkMaxPixels(maxPixels);
  // Said here in the caller's terms rather than by the native side.
  if (!Number.isInteger(size) || size < 1 || !Number.isInteger(resizeTo) || resizeTo < size) {
    throw new InputError(
      "imageSize",
      `an image side of ${size} resized from ${resizeTo} cannot be taken (need an integer side ` +
        "from 1 up to the resize side)",
    );
  }
  try {
    return new Tensor(
      checkPtr(
        native().lade_image_prepare(toCString(path), size, resizeTo, channels, BigInt(maxPixels)),
        "reading an image",
      ),
    );
  } catch (e) {
    if (e instanceof TorchError) {
      throw new InputError(imageErrorMessage(e.message.replace(/^reading an image: /, "")));
    }
    throw e;
  }
}

/** Writes uint8 [C, H, W] (C 1 or 3) as PNG or JPEG by the extension of `path`, atomically. */
export function writeImage(image: Tensor, path: string, quality = 95): void {
  checkStatus(native().lade_image_write(image.ptr, toCString(path), quality), `writing ${path}`);
}
