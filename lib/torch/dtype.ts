/**
 * Element types and their codes in the native ABI.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Element type names, as PyTorch spells them. */
export type DType =
  | "float32"
  | "float64"
  | "int64"
  | "int32"
  | "uint8"
  | "bool"
  | "float16"
  | "bfloat16"
  | "int16"
  | "int8";

/** Codes of `enum lade_dtype` in native/include/lade.h, by name. */
export const DTYPE_CODES: Readonly<Record<DType, number>> = {
  float32: 0,
  float64: 1,
  int64: 2,
  int32: 3,
  uint8: 4,
  bool: 5,
  float16: 6,
  bfloat16: 7,
  int16: 8,
  int8: 9,
};

/** The native code of `dtype`; an InputError for `dtype` when it is not one of DType's names. */
export function dtypeCode(dtype: string): number {
  if (!Object.hasOwn(DTYPE_CODES, dtype)) {
    throw new InputError(
      "dtype",
      `unknown dtype '${dtype}' (use ${Object.keys(DTYPE_CODES).join(", ")})`,
    );
  }
  return DTYPE_CODES[dtype as DType];
}

/** True when `name` is one of DType's names. */
export function isDType(name: string): name is DType {
  return Object.hasOwn(DTYPE_CODES, name);
}

/** Names by code. */
export const DTYPE_NAMES: readonly DType[] = [
  "float32",
  "float64",
  "int64",
  "int32",
  "uint8",
  "bool",
  "float16",
  "bfloat16",
  "int16",
  "int8",
];

/** Bytes per element. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
  float16: 2,
  bfloat16: 2,
  int16: 2,
  int8: 1,
};

/** A typed array that holds host copies of tensors. */
export type TypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Uint8Array
  | Int16Array
  | Int8Array
  | Uint16Array;

/** The dtype a typed array holds. */
export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Int8Array) return "int8";
  throw new InputError("data", "cannot infer a dtype from this array; pass one explicitly");
}

/** Allocates a typed array for `n` elements of `dtype` (float16/bfloat16 as raw Uint16). */
export function allocArray(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "int32":
      return new Int32Array(n);
    case "uint8":
    case "bool":
      return new Uint8Array(n);
    case "int16":
      return new Int16Array(n);
    case "int8":
      return new Int8Array(n);
    case "float16":
    case "bfloat16":
      return new Uint16Array(n);
  }
}

/** True for floating-point types. */
export function isFloating(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64" || dtype === "float16" ||
    dtype === "bfloat16";
}
