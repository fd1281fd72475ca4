/**
 * The IDX format of MNIST and Fashion-MNIST (raw or gzipped): a magic number
 * 0x0000 08 D (unsigned bytes, D dimensions), D big-endian uint32 sizes, then
 * the bytes in C order.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { gunzip, readDataFile } from "./files.ts";

/** An IDX array of unsigned bytes. */
export interface IdxArray {
  /** Sizes of each dimension. */
  dims: number[];
  /** The elements in C order (a view into the file's bytes). */
  data: Uint8Array;
}

/** Parses IDX bytes; a wrong magic number or a length that disagrees with the header is an InputError. */
export function parseIdx(bytes: Uint8Array, path: string): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new InputError(`${path} is not an IDX file (wrong magic number)`);
  }
  if (bytes[2] !== 0x08) {
    throw new InputError(
      `${path}: IDX element type 0x${bytes[2].toString(16)} is not unsigned bytes (0x08)`,
    );
  }
  const ndim = bytes[3];
  if (ndim < 1 || bytes.length < 4 + 4 * ndim) {
    throw new InputError(`${path}: truncated IDX header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const start = 4 + 4 * ndim;
  const need = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - start;
  if (have !== need) {
    throw new InputError(
      `${path}: ${have < need ? "truncated" : "corrupted"} IDX file: header [${
        dims.join(", ")
      }] needs ${need} bytes of data, found ${have}`,
    );
  }
  return { dims, data: bytes.subarray(start) };
}

/** Reads an IDX file, gunzipping it when it is gzipped; `source` says where the data comes from. */
export async function readIdx(path: string, source: string): Promise<IdxArray> {
  return parseIdx(await gunzip(await readDataFile(path, source), path), path);
}
