/**
 * Making tensors: from host data, factories, and seeded random numbers.
 *
 * @module
 */

import { checkSeed, type Device, parseDevice } from "./device.ts";
import { type DType, DTYPE_BYTES, dtypeCode, dtypeOf, type TypedArray } from "./dtype.ts";
import { InputError } from "../errors.ts";
import { checkPtr, checkStatus } from "./errors.ts";
import { native } from "./ffi.ts";
import { NativeHandle } from "./handle.ts";
import { RANDOM_KIND } from "./ops.ts";
import { int64s, Tensor } from "./tensor.ts";

/** Where and of what type a factory makes its tensor. */
export interface TensorOptions {
  /** Element type (default float32). */
  dtype?: DType;
  /** Device (default cpu). */
  device?: Device | "cuda";
}

/** Frees a generator handle (also from the finaliser). */
function freeGenerator(ptr: Deno.PointerObject): void {
  native().lade_generator_free(ptr);
}

/** A seedable random number generator (CPU), for reproducible draws. */
export class Generator extends NativeHandle {
  /** A generator seeded with `seed`. */
  constructor(seed: number | bigint) {
    super(
      "generator",
      freeGenerator,
      checkPtr(native().lade_generator_new(checkSeed(seed)), "generator"),
    );
  }

  /** The full state as bytes (to save in a checkpoint). */
  getState(): Uint8Array {
    const t = new Tensor(checkPtr(native().lade_generator_get_state(this.ptr), "generator state"));
    try {
      return t.toArray() as Uint8Array;
    } finally {
      t.dispose();
    }
  }

  /** Restores a state made by getState(). */
  setState(state: Uint8Array): void {
    const t = tensor(state, [state.length], "uint8");
    try {
      checkStatus(native().lade_generator_set_state(this.ptr, t.ptr), "generator state");
    } finally {
      t.dispose();
    }
  }
}

function deviceCode(device: Device | "cuda" | undefined): { type: number; index: number } {
  return device === undefined ? parseDevice("cpu").code : parseDevice(device).code;
}

/**
 * A tensor holding a copy of `data`. The dtype is inferred from a typed array
 * (Float32Array is float32, BigInt64Array int64, Uint8Array uint8, ...) or is
 * float32 for a number array; pass `dtype` to convert. `shape` defaults to 1-D.
 *
 * @example A float32 matrix and an int64 vector
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "./mod.ts";
 *
 * using m = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * assert.deepEqual([m.shape, m.dtype], [[2, 3], "float32"]);
 * using labels = tensor(new BigInt64Array([2n, 0n]));
 * assert.deepEqual([labels.dtype, labels.toList()], ["int64", [2, 0]]);
 * ```
 */
export function tensor(
  data: TypedArray | readonly number[] | readonly boolean[],
  shape?: readonly number[],
  dtype?: DType,
): Tensor {
  let src: TypedArray;
  let srcType: DType;
  if (!ArrayBuffer.isView(data) && !Array.isArray(data)) {
    throw new InputError(
      "data",
      `must be a typed array or an array of numbers, got ${typeof data}`,
    );
  }
  if (ArrayBuffer.isView(data)) {
    src = data;
    srcType = dtypeOf(data);
  } else if (data.length > 0 && typeof data[0] === "boolean") {
    src = Uint8Array.from(data as readonly boolean[], (b) => (b ? 1 : 0));
    srcType = "bool";
  } else {
    src = Float64Array.from(data as readonly number[]);
    srcType = "float64";
    dtype ??= "float32";
  }
  if (dtype !== undefined) dtypeCode(dtype);
  const dims = shape ?? [src.length];
  const s = int64s(dims, "shape");
  checkElements(dims, src.length, "values");
  const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const made = new Tensor(
    checkPtr(
      native().lade_from_data(bytes, BigInt(bytes.byteLength), s, s.length, dtypeCode(srcType)),
      "tensor",
    ),
  );
  if (dtype === undefined || dtype === srcType) return made;
  try {
    return made.to(dtype);
  } finally {
    made.dispose();
  }
}

/** An InputError unless `shape` holds exactly `count` elements (said in the caller's terms). */
function checkElements(shape: readonly number[], count: number, what: string): void {
  const elements = shape.reduce((a, d) => a * BigInt(d), 1n);
  if (elements !== BigInt(count)) {
    throw new InputError(
      "shape",
      `[${shape.join(", ")}] holds ${elements} elements, but there are ${count} ${what}`,
    );
  }
}

/**
 * A tensor of `dtype` and `shape` holding a copy of `bytes`: the elements in
 * C order, little-endian (any dtype, float16 and bfloat16 included). The
 * byte length must be the shape's element count times the dtype's size.
 *
 * @example Little-endian bytes as float32 values
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromBytes } from "./mod.ts";
 *
 * using t = fromBytes(new Uint8Array(new Float32Array([1.5, -2]).buffer), [2], "float32");
 * assert.deepEqual(t.toList(), [1.5, -2]);
 * ```
 */
export function fromBytes(bytes: Uint8Array, shape: readonly number[], dtype: DType): Tensor {
  const s = int64s(shape, "shape");
  dtypeCode(dtype);
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new InputError(
      "bytes",
      `${bytes.byteLength} bytes are not a whole number of ${dtype} values`,
    );
  }
  checkElements(shape, bytes.byteLength / size, `${dtype} values`);
  return new Tensor(
    checkPtr(
      native().lade_from_data(bytes, BigInt(bytes.byteLength), s, s.length, dtypeCode(dtype)),
      "tensor",
    ),
  );
}

/**
 * A tensor of `shape` filled with `value`.
 *
 * @example A filled tensor
 * ```ts
 * import assert from "node:assert/strict";
 * import { full } from "./mod.ts";
 *
 * using t = full([2, 2], 7, { dtype: "int32" });
 * assert.deepEqual(t.toList(), [7, 7, 7, 7]);
 * ```
 */
export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  const s = int64s(shape);
  const { type, index } = deviceCode(options.device);
  const p = native().lade_full(
    s,
    s.length,
    value,
    dtypeCode(options.dtype ?? "float32"),
    type,
    index,
  );
  return new Tensor(checkPtr(p, "full"));
}

/**
 * A tensor of zeros.
 *
 * @example Zeros of a shape
 * ```ts
 * import assert from "node:assert/strict";
 * import { zeros } from "./mod.ts";
 *
 * using t = zeros([3]);
 * assert.deepEqual([t.dtype, t.toList()], ["float32", [0, 0, 0]]);
 * ```
 */
export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

/**
 * A tensor of ones.
 *
 * @example Ones of a shape
 * ```ts
 * import assert from "node:assert/strict";
 * import { ones } from "./mod.ts";
 *
 * using t = ones([2, 1], { dtype: "float64" });
 * assert.deepEqual([t.shape, t.toList()], [[2, 1], [1, 1]]);
 * ```
 */
export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/**
 * start, start + step, ... below end (int64 by default, like torch.arange with integers).
 *
 * @example Integer and float ranges
 * ```ts
 * import assert from "node:assert/strict";
 * import { arange } from "./mod.ts";
 *
 * using a = arange(4);
 * assert.deepEqual([a.dtype, a.toList()], ["int64", [0, 1, 2, 3]]);
 * using b = arange(0, 1, 0.25, { dtype: "float32" });
 * assert.deepEqual(b.toList(), [0, 0.25, 0.5, 0.75]);
 * ```
 */
export function arange(
  start: number,
  end?: number,
  step = 1,
  options: TensorOptions = {},
): Tensor {
  if (end === undefined) [start, end] = [0, start];
  const { type, index } = deviceCode(options.device);
  const dt = dtypeCode(options.dtype ?? "int64");
  return new Tensor(checkPtr(native().lade_arange(start, end, step, dt, type, index), "arange"));
}

/** Options of the random factories. */
export interface RandomOptions extends TensorOptions {
  /** Draw from this generator instead of the global one. */
  generator?: Generator;
}

function random(
  kind: typeof RANDOM_KIND[keyof typeof RANDOM_KIND],
  shape: readonly number[],
  options: RandomOptions,
): Tensor {
  const s = int64s(shape);
  const { type, index } = deviceCode(options.device);
  const p = native().lade_random(
    kind,
    s,
    s.length,
    dtypeCode(options.dtype ?? "float32"),
    type,
    index,
    options.generator?.ptr ?? null,
  );
  return new Tensor(checkPtr(p, kind === RANDOM_KIND.uniform ? "rand" : "randn"));
}

/**
 * Uniform random values in [0, 1).
 *
 * @example Reproducible uniform draws from a generator
 * ```ts
 * import assert from "node:assert/strict";
 * import { Generator, rand } from "./mod.ts";
 *
 * using g1 = new Generator(7);
 * using g2 = new Generator(7);
 * using a = rand([4], { generator: g1 });
 * using b = rand([4], { generator: g2 });
 * assert.deepEqual(a.toList(), b.toList());
 * assert.ok(a.toList().every((x) => x >= 0 && x < 1));
 * ```
 */
export function rand(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return random(RANDOM_KIND.uniform, shape, options);
}

/**
 * Standard normal random values.
 *
 * @example Standard normal draws
 * ```ts
 * import assert from "node:assert/strict";
 * import { manualSeed, randn } from "./mod.ts";
 *
 * manualSeed(0);
 * using x = randn([1000]);
 * using mean = x.mean();
 * assert.ok(Math.abs(mean.item()) < 0.2);
 * ```
 */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return random(RANDOM_KIND.normal, shape, options);
}

/**
 * A random permutation of 0..n-1 (int64).
 *
 * @example A shuffled 0..n-1
 * ```ts
 * import assert from "node:assert/strict";
 * import { Generator, randperm } from "./mod.ts";
 *
 * using g = new Generator(1);
 * using p = randperm(5, { generator: g });
 * assert.deepEqual(p.toList().sort(), [0, 1, 2, 3, 4]);
 * ```
 */
export function randperm(n: number, options: Omit<RandomOptions, "dtype"> = {}): Tensor {
  const { type, index } = deviceCode(options.device);
  const p = native().lade_randperm(BigInt(n), type, index, options.generator?.ptr ?? null);
  return new Tensor(checkPtr(p, "randperm"));
}

/**
 * Random integers in [low, high) (int64).
 *
 * @example Random class labels
 * ```ts
 * import assert from "node:assert/strict";
 * import { Generator, randint } from "./mod.ts";
 *
 * using g = new Generator(3);
 * using y = randint(0, 10, [8], { generator: g });
 * assert.equal(y.dtype, "int64");
 * assert.ok(y.toList().every((v) => Number.isInteger(v) && v >= 0 && v < 10));
 * ```
 */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  options: Omit<RandomOptions, "dtype"> = {},
): Tensor {
  const s = int64s(shape);
  const { type, index } = deviceCode(options.device);
  const p = native().lade_randint(
    BigInt(low),
    BigInt(high),
    s,
    s.length,
    type,
    index,
    options.generator?.ptr ?? null,
  );
  return new Tensor(checkPtr(p, "randint"));
}

/**
 * Runs `fn` with gradient recording off (torch.no_grad), restoring the previous mode after.
 *
 * @example Evaluating without recording gradients
 * ```ts
 * import assert from "node:assert/strict";
 * import { noGrad, tensor } from "./mod.ts";
 *
 * using w = tensor([1, 2]);
 * w.requiresGrad = true;
 * using y = noGrad(() => w.mul(3));
 * assert.equal(y.requiresGrad, false);
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  const prev = native().lade_set_grad_enabled(0);
  try {
    return fn();
  } finally {
    native().lade_set_grad_enabled(prev);
  }
}
