/**
 * The op codes of the native ABI: the enums of native/include/lade.h, by
 * name. `scripts/check_abi.ts` (run by `deno task check` and the tests)
 * compares every table here with its enum in lade.h value by value, so
 * adding an op means one enum entry in lade.h, one entry here, and its case
 * in native/src/.
 *
 * Names are the C names without the enum's prefix, in camelCase:
 * `LADE_UNARY_LOGICAL_NOT` is `UNARY.logicalNot`.
 *
 * @module
 */

import { DTYPE_CODES } from "./dtype.ts";

/** Device types (`enum lade_device_type`), the first half of a (type, index) device. */
export const DEVICE_TYPE = {
  cpu: 0,
  cuda: 1,
} as const;

/** What `lade_random` draws (`enum lade_random_kind`). */
export const RANDOM_KIND = {
  uniform: 0,
  normal: 1,
} as const;

/** Ops of `lade_unary` (`enum lade_op_unary`). */
export const UNARY = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  abs: 4,
  relu: 5,
  sigmoid: 6,
  tanh: 7,
  floor: 8,
  ceil: 9,
  round: 10,
  sign: 11,
  log1p: 12,
  expm1: 13,
  square: 14,
  logicalNot: 15,
  reciprocal: 16,
  sin: 17,
  cos: 18,
  isnan: 19,
  rsqrt: 20,
  contiguous: 21,
  clone: 22,
  detach: 23,
  flatten: 24,
  t: 25,
  isfinite: 26,
} as const;

/** Ops of `lade_binary` and `lade_binary_scalar` (`enum lade_op_binary`). */
export const BINARY = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  pow: 4,
  eq: 5,
  ne: 6,
  lt: 7,
  le: 8,
  gt: 9,
  ge: 10,
  maximum: 11,
  minimum: 12,
  matmul: 13,
  logicalAnd: 14,
  logicalOr: 15,
  remainder: 16,
  floorDivide: 17,
  rsub: 18,
  rdiv: 19,
  rpow: 20,
} as const;

/** Reductions of `lade_reduce` (`enum lade_op_reduce`). */
export const REDUCE = {
  sum: 0,
  mean: 1,
  max: 2,
  min: 3,
  argmax: 4,
  argmin: 5,
  logsumexp: 6,
  prod: 7,
  std: 8,
  var: 9,
  all: 10,
  any: 11,
} as const;

/** Ops of `lade_dim_op`, along one dimension (`enum lade_op_dim`). */
export const DIM = {
  softmax: 0,
  logSoftmax: 1,
  cumsum: 2,
  squeeze: 3,
  unsqueeze: 4,
  argsortAsc: 5,
  argsortDesc: 6,
} as const;

/** Classifier heads of `lade_model_new` (`enum lade_head`). */
export const HEAD = {
  linear: 0,
  cosine: 1,
} as const;

/** The parts of a model (`enum lade_model_part`): freezing and parameter groups. */
export const MODEL_PART = {
  backbone: 0,
  head: 1,
} as const;

/** Collective backends of `lade_dist_new` (`enum lade_dist_backend`). */
export const DIST_BACKEND = {
  gloo: 0,
  nccl: 1,
} as const;

/** Reductions of `lade_dist_all_reduce` (`enum lade_dist_reduce`). */
export const DIST_REDUCE = {
  sum: 0,
  avg: 1,
} as const;

/**
 * Each table above (and the dtype codes) with the lade.h enum it mirrors and
 * the prefix of that enum's C names: what the ABI check compares.
 */
export const NATIVE_ENUMS: Readonly<
  Record<string, { readonly prefix: string; readonly codes: Readonly<Record<string, number>> }>
> = {
  lade_dtype: { prefix: "LADE_", codes: DTYPE_CODES },
  lade_device_type: { prefix: "LADE_DEVICE_", codes: DEVICE_TYPE },
  lade_random_kind: { prefix: "LADE_RANDOM_", codes: RANDOM_KIND },
  lade_op_unary: { prefix: "LADE_UNARY_", codes: UNARY },
  lade_op_binary: { prefix: "LADE_BINARY_", codes: BINARY },
  lade_op_reduce: { prefix: "LADE_REDUCE_", codes: REDUCE },
  lade_op_dim: { prefix: "LADE_DIM_", codes: DIM },
  lade_head: { prefix: "LADE_HEAD_", codes: HEAD },
  lade_model_part: { prefix: "LADE_PART_", codes: MODEL_PART },
  lade_dist_backend: { prefix: "LADE_DIST_", codes: DIST_BACKEND },
  lade_dist_reduce: { prefix: "LADE_DIST_", codes: DIST_REDUCE },
};
