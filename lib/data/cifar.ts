/**
 * CIFAR-10 and CIFAR-100 binary versions: records of label byte(s) then
 * 3 x 32 x 32 pixel bytes (red, green, blue planes). CIFAR-10 has one label
 * byte (data_batch_1.bin ... data_batch_5.bin, test_batch.bin); CIFAR-100
 * has a coarse then a fine label byte (train.bin, test.bin).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { readDataFile } from "./files.ts";

/** Pixel bytes of one CIFAR image. */
export const CIFAR_PIXELS = 3 * 32 * 32;

/** The layout of a CIFAR binary variant. */
export interface CifarFormat {
  /** 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine). */
  labelBytes: 1 | 2;
  /** Classes of the label used (10, or 100 fine). */
  classes: number;
  /** Coarse classes (CIFAR-100: 20). */
  coarseClasses?: number;
}

/** CIFAR records read from one or more files. */
export interface CifarData {
  /** uint8 [N, 3, 32, 32]; the caller owns it. */
  images: Tensor;
  /** The (fine) label of each record. */
  labels: Int32Array;
  /** CIFAR-100's coarse labels. */
  coarse?: Int32Array;
}

/**
 * Reads CIFAR binary files in order. A length that is not a whole number of
 * records, or a label outside the class range, is an InputError naming the file.
 */
export async function readCifar(
  paths: readonly string[],
  format: CifarFormat,
  source: string,
): Promise<CifarData> {
  const record = format.labelBytes + CIFAR_PIXELS;
  const files: Uint8Array[] = [];
  for (const path of paths) {
    const bytes = await readDataFile(path, source);
    if (bytes.length === 0 || bytes.length % record !== 0) {
      throw new InputError(
        `${path}: truncated or corrupted CIFAR file: ${bytes.length} bytes is not a whole number ` +
          `of ${record}-byte records`,
      );
    }
    files.push(bytes);
  }
  const total = files.reduce((n, f) => n + f.length, 0);
  const n = total / record;
  const all = new Uint8Array(total);
  const labels = new Int32Array(n);
  const coarse = format.labelBytes === 2 ? new Int32Array(n) : undefined;
  let offset = 0;
  for (let f = 0; f < files.length; f++) {
    const bytes = files[f];
    all.set(bytes, offset);
    const first = offset / record;
    for (let r = 0; r < bytes.length / record; r++) {
      const fine = bytes[r * record + format.labelBytes - 1];
      if (fine >= format.classes) {
        throw new InputError(
          `${paths[f]}: label ${fine} of record ${r} outside the class range 0..${
            format.classes - 1
          }`,
        );
      }
      labels[first + r] = fine;
      if (coarse) {
        const c = bytes[r * record];
        if (c >= (format.coarseClasses ?? 20)) {
          throw new InputError(
            `${paths[f]}: coarse label ${c} of record ${r} outside the range 0..${
              (format.coarseClasses ?? 20) - 1
            }`,
          );
        }
        coarse[first + r] = c;
      }
    }
    offset += bytes.length;
  }
  const images = scope(() => {
    const records = tensor(all, [n, record]);
    return records.narrow(1, format.labelBytes, CIFAR_PIXELS).contiguous().reshape(n, 3, 32, 32);
  });
  return { images, labels, coarse };
}
