/**
 * NumPy `.npy` files (format versions 1.0 to 3.0 read, 1.0 written), so that
 * logits and labels pass between lade and PyTorch/NumPy code.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { writeFilesAtomic } from "../fs.ts";
import { MAX_BINARY_BYTES, readInputFile } from "../input_file.ts";
import type { DType, TypedArray } from "../torch/dtype.ts";

/** An array read from or written to a .npy file (C order, little-endian). */
export interface NpyArray {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** descr strings by dtype, and back. */
const DESCR: Partial<Record<DType, string>> = {
  float32: "<f4",
  float64: "<f8",
  int64: "<i8",
  int32: "<i4",
  int16: "<i2",
  int8: "|i1",
  uint8: "|u1",
  bool: "|b1",
};
const FROM_DESCR: Record<string, DType> = Object.fromEntries(
  Object.entries(DESCR).map(([k, v]) => [v, k as DType]),
);
// NumPy writes single-byte types with "|" but accepts "<" too.
FROM_DESCR["<i1"] = "int8";
FROM_DESCR["<u1"] = "uint8";
FROM_DESCR["<b1"] = "bool";

const BYTES: Record<string, number> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

function typedView(dtype: DType, buf: ArrayBuffer, n: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buf, 0, n);
    case "float64":
      return new Float64Array(buf, 0, n);
    case "int64":
      return new BigInt64Array(buf, 0, n);
    case "int32":
      return new Int32Array(buf, 0, n);
    case "int16":
      return new Int16Array(buf, 0, n);
    case "int8":
      return new Int8Array(buf, 0, n);
    default:
      return new Uint8Array(buf, 0, n);
  }
}

/** Parses the bytes of a .npy file; `name` names it in errors. */
export function parseNpy(bytes: Uint8Array, name = "npy data"): NpyArray {
  const bad = (why: string) => new InputError(`${name}: not a valid .npy file (${why})`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad("bad magic");
  const major = bytes[6];
  let headerLen: number;
  let start: number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad("truncated header");
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw bad(`unsupported version ${major}`);
  }
  if (bytes.length < start + headerLen) throw bad("truncated header");
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLen),
  );
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad("header lacks descr, fortran_order or shape");
  }
  const dtype = FROM_DESCR[descr];
  if (dtype === undefined) throw bad(`unsupported dtype '${descr}'`);
  if (fortran === "True") throw bad("Fortran-order arrays are not supported; save a C-order array");
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    const v = Number(s.replace(/L$/, ""));
    if (!Number.isInteger(v) || v < 0) throw bad(`bad shape '${shapeText}'`);
    return v;
  });
  const n = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const nbytes = n * BYTES[dtype];
  if (bytes.length - dataStart !== nbytes) {
    throw bad(
      `expected ${nbytes} data bytes for shape (${shape.join(", ")}), found ${
        bytes.length - dataStart
      }`,
    );
  }
  // Copy into a fresh, aligned buffer.
  const buf = bytes.slice(dataStart, dataStart + nbytes).buffer;
  return { dtype, shape, data: typedView(dtype, buf, n) };
}

/** Reads a .npy file; a missing or malformed file is an InputError naming it. */
export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readInputFile(path, { maxBytes: MAX_BINARY_BYTES }), path);
}

/** The bytes of a .npy v1.0 file holding `data` with `shape` (C order). */
export function encodeNpy(array: NpyArray): Uint8Array {
  const descr = DESCR[array.dtype];
  if (descr === undefined) {
    throw new InputError("array", `cannot write dtype ${array.dtype} as .npy`);
  }
  const n = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== n) {
    throw new InputError("array", `data has ${array.data.length} elements, shape needs ${n}`);
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so that magic + version + length + header (ending in \n) is a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, " ") + "\n";
  if (header.length > 65535) throw new InputError("array", "shape too long for a .npy v1.0 header");
  const src = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(10 + header.length + src.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(src, 10 + header.length);
  return out;
}

/**
 * Writes a .npy v1.0 file atomically (see lib/fs.ts); a failed write (a full
 * disk) is an OutputWriteError naming the file, which is left as it was.
 */
export async function writeNpy(path: string, array: NpyArray): Promise<void> {
  await writeFilesAtomic([[path, encodeNpy(array)]]);
}
