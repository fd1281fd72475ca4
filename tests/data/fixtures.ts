/**
 * Writers of small data files in the real formats, for the data tests: IDX
 * (raw or gzipped), CIFAR binary records, and image lists with JPEG and PNG
 * files encoded by lade's native codecs.
 *
 * @module
 */

import { join } from "node:path";
import { tensor } from "../../lib/torch/create.ts";
import { writeImage } from "../../lib/data/image_io.ts";

/** IDX bytes of unsigned-byte data with the given dims. */
export function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** gzip-compresses bytes. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A deterministic pixel value for (sample, channel, y, x). */
export function pixel(i: number, c: number, y: number, x: number): number {
  return (i * 37 + c * 101 + y * 7 + x * 3) % 256;
}

/** Images [n, channels, size, size] with pixel() values. */
export function makeImages(n: number, channels: number, size: number): Uint8Array {
  const out = new Uint8Array(n * channels * size * size);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) out[k++] = pixel(i, c, y, x);
      }
    }
  }
  return out;
}

/**
 * Writes Fashion-MNIST style IDX files (train: nTrain, t10k: nTest images of
 * side `size`) with labels i % 10; gzipped unless `raw`.
 */
export async function writeIdxDataset(
  dir: string,
  nTrain: number,
  nTest: number,
  opts: { size?: number; raw?: boolean; labels?: (i: number) => number } = {},
): Promise<void> {
  const size = opts.size ?? 28;
  const label = opts.labels ?? ((i: number) => i % 10);
  for (const [prefix, n] of [["train", nTrain], ["t10k", nTest]] as const) {
    const images = idxBytes([n, size, size], makeImages(n, 1, size));
    const labels = idxBytes([n], Uint8Array.from({ length: n }, (_, i) => label(i)));
    for (
      const [stem, bytes] of [[`${prefix}-images-idx3-ubyte`, images], [
        `${prefix}-labels-idx1-ubyte`,
        labels,
      ]] as const
    ) {
      if (opts.raw) await Deno.writeFile(join(dir, stem), bytes);
      else await Deno.writeFile(join(dir, `${stem}.gz`), await gzip(bytes));
    }
  }
}

/** CIFAR binary records: label bytes then the 3 x 32 x 32 pixels of pixel(first + r, ...). */
export function cifarRecords(
  n: number,
  labelBytes: 1 | 2,
  labels: (i: number) => number[],
  first = 0,
): Uint8Array {
  const record = labelBytes + 3072;
  const out = new Uint8Array(n * record);
  for (let r = 0; r < n; r++) {
    out.set(labels(first + r), r * record);
    out.set(
      makeImages(1, 3, 32).map((_, k) => {
        const c = Math.floor(k / 1024), y = Math.floor((k % 1024) / 32), x = k % 32;
        return pixel(first + r, c, y, x);
      }),
      r * record + labelBytes,
    );
  }
  return out;
}

/** Writes a uint8 image [channels, h, w] with a constant colour per channel. */
export function writeFlatImage(
  path: string,
  colour: number[],
  width: number,
  height: number,
  quality = 100,
): void {
  const c = colour.length;
  const data = new Uint8Array(c * width * height);
  for (let ch = 0; ch < c; ch++) {
    data.fill(colour[ch], ch * width * height, (ch + 1) * width * height);
  }
  using t = tensor(data, [c, height, width]);
  writeImage(t, path, quality);
}
