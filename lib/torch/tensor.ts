/**
 * `Tensor`: a thin owner of one native libtorch tensor handle, with the ops
 * as methods named as PyTorch names them (camelCase).
 *
 * Every op returns a new Tensor that the caller owns: free it with
 * `dispose()`, a `using` declaration, or let the enclosing `scope()` free it.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import {
  allocArray,
  type DType,
  DTYPE_BYTES,
  DTYPE_NAMES,
  dtypeCode,
  isDType,
  type TypedArray,
} from "./dtype.ts";
import { type Device, deviceName, parseDevice } from "./device.ts";
import { checkPtr, checkStatus } from "./errors.ts";
import { native } from "./ffi.ts";
import { NativeHandle } from "./handle.ts";
import { track, untrack } from "./memory.ts";
import { BINARY as B, DIM as D, REDUCE as R, UNARY as U } from "./ops.ts";

/** A tensor operand or a plain number (broadcast as a scalar). */
export type Operand = Tensor | number;

/** An int64 array of dims or sizes for the native side. */
export function int64s(values: readonly number[], what = "dims"): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isSafeInteger(v) || (what === "shape" && v < 0)) {
      throw new InputError(
        what,
        `must be ${what === "shape" ? "non-negative " : ""}integers, got [${values.join(", ")}]`,
      );
    }
    out[i] = BigInt(v);
  }
  return out;
}

/** A buffer of handle addresses for ops that take a list of tensors. */
function handleList(tensors: readonly Tensor[]): BigUint64Array {
  const out = new BigUint64Array(tensors.length);
  for (let i = 0; i < tensors.length; i++) {
    out[i] = BigInt(Deno.UnsafePointer.value(tensors[i].ptr));
  }
  return out;
}

/** Wraps the pointer in an out-slot filled by the native side (0 means none). */
function fromSlot(slot: BigUint64Array, i: number, context: string): Tensor {
  const p = Deno.UnsafePointer.create(slot[i]);
  return new Tensor(checkPtr(p, context));
}

/** Frees a tensor handle (also from the finaliser). */
function freeTensor(ptr: Deno.PointerObject): void {
  native().lade_tensor_free(ptr);
}

/** A libtorch tensor owned by JavaScript. */
export class Tensor extends NativeHandle {
  #shape: number[] | undefined;

  /** Takes ownership of a native handle. Use the factories (`tensor`, `zeros`, ...) instead. */
  constructor(ptr: Deno.PointerObject) {
    super("tensor", freeTensor, ptr);
    track(this);
  }

  /** Frees the native handle now (idempotent), and leaves the enclosing scope. */
  override dispose(): void {
    if (this.disposed) return;
    super.dispose();
    untrack(this);
  }

  // ---------------------------------------------------------------- metadata

  /** The sizes of each dimension. */
  get shape(): readonly number[] {
    if (this.#shape === undefined) {
      const n = Number(native().lade_tensor_ndim(this.ptr));
      const buf = new BigInt64Array(n);
      checkStatus(native().lade_tensor_shape(this.ptr, buf), "shape");
      this.#shape = Array.from(buf, Number);
    }
    return this.#shape;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Element type. */
  get dtype(): DType {
    const code = native().lade_tensor_dtype(this.ptr);
    if (code < 0) checkStatus(-1, "dtype");
    return DTYPE_NAMES[code];
  }

  /** The device holding the data (`cpu` or `cuda:N`). */
  get device(): Device {
    const code = native().lade_tensor_device(this.ptr);
    if (code < 0) checkStatus(-1, "device");
    return deviceName(code);
  }

  /** A host copy of the elements in C order, as a typed array of the dtype. */
  toArray(): TypedArray {
    const dtype = this.dtype;
    const out = allocArray(dtype, this.numel);
    checkStatus(
      native().lade_tensor_copy_out(this.ptr, out, BigInt(out.length * DTYPE_BYTES[dtype])),
      "toArray",
    );
    return out;
  }

  /** The value of a one-element tensor. */
  item(): number {
    const out = new Float64Array(1);
    checkStatus(native().lade_tensor_item(this.ptr, out), "item");
    return out[0];
  }

  /** A plain nested-free list of the elements as numbers (for small tensors and tests). */
  toList(): number[] {
    return Array.from(this.toArray() as ArrayLike<number | bigint>, Number);
  }

  // ---------------------------------------------------------------- autograd

  /** Whether operations on this tensor are recorded for gradients. */
  get requiresGrad(): boolean {
    const r = native().lade_requires_grad(this.ptr);
    if (r < 0) checkStatus(-1, "requiresGrad");
    return r === 1;
  }

  set requiresGrad(flag: boolean) {
    checkStatus(native().lade_set_requires_grad(this.ptr, flag ? 1 : 0), "requiresGrad");
  }

  /** The accumulated gradient as a new handle (owned by the caller), or null. */
  get grad(): Tensor | null {
    const slot = new BigUint64Array(1);
    checkStatus(native().lade_grad(this.ptr, slot), "grad");
    return slot[0] === 0n ? null : fromSlot(slot, 0, "grad");
  }

  /** Assigning null clears the accumulated gradient. */
  set grad(value: null) {
    if (value !== null) {
      throw new InputError("grad", "only null can be assigned (it clears the gradient)");
    }
    checkStatus(native().lade_zero_grad(this.ptr), "grad");
  }

  /** Back-propagates from this tensor (a scalar unless `grad` is given). */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    checkStatus(
      native().lade_backward(this.ptr, grad?.ptr ?? null, options.retainGraph ? 1 : 0),
      "backward",
    );
  }

  /** Copies `src` into this tensor in place, outside autograd. */
  copy_(src: Tensor): this {
    checkStatus(native().lade_copy_(this.ptr, src.ptr), "copy_");
    return this;
  }

  // ---------------------------------------------------------------- op helpers

  #unary(op: number, name: string): Tensor {
    return new Tensor(checkPtr(native().lade_unary(op, this.ptr), name));
  }

  #binary(op: number, other: Operand, name: string): Tensor {
    const p = typeof other === "number"
      ? native().lade_binary_scalar(op, this.ptr, other)
      : native().lade_binary(op, this.ptr, other.ptr);
    return new Tensor(checkPtr(p, name));
  }

  #reduce(op: number, dim: number | undefined, keepdim: boolean, name: string): Tensor {
    const all = dim === undefined ? 1 : 0;
    return new Tensor(
      checkPtr(native().lade_reduce(op, this.ptr, dim ?? 0, keepdim ? 1 : 0, all), name),
    );
  }

  #dimOp(op: number, dim: number, name: string): Tensor {
    return new Tensor(checkPtr(native().lade_dim_op(op, this.ptr, dim), name));
  }

  // ---------------------------------------------------------------- elementwise

  /** this + other (broadcasting). */
  add(other: Operand): Tensor {
    return this.#binary(B.add, other, "add");
  }
  /** this - other. */
  sub(other: Operand): Tensor {
    return this.#binary(B.sub, other, "sub");
  }
  /** this * other. */
  mul(other: Operand): Tensor {
    return this.#binary(B.mul, other, "mul");
  }
  /** this / other (true division). */
  div(other: Operand): Tensor {
    return this.#binary(B.div, other, "div");
  }
  /** this ** other. */
  pow(other: Operand): Tensor {
    return this.#binary(B.pow, other, "pow");
  }
  /** other - this, for a scalar other. */
  rsub(other: number): Tensor {
    return this.#binary(B.rsub, other, "rsub");
  }
  /** other / this, for a scalar other. */
  rdiv(other: number): Tensor {
    return this.#binary(B.rdiv, other, "rdiv");
  }
  /** other ** this, for a scalar other. */
  rpow(other: number): Tensor {
    return this.#binary(B.rpow, other, "rpow");
  }
  /** Remainder with the sign of the divisor (Python's %). */
  remainder(other: Operand): Tensor {
    return this.#binary(B.remainder, other, "remainder");
  }
  /** Division rounded down. */
  floorDivide(other: Operand): Tensor {
    return this.#binary(B.floorDivide, other, "floorDivide");
  }
  /** Elementwise maximum. */
  maximum(other: Operand): Tensor {
    return this.#binary(B.maximum, other, "maximum");
  }
  /** Elementwise minimum. */
  minimum(other: Operand): Tensor {
    return this.#binary(B.minimum, other, "minimum");
  }
  /** this == other (bool). */
  eq(other: Operand): Tensor {
    return this.#binary(B.eq, other, "eq");
  }
  /** this != other (bool). */
  ne(other: Operand): Tensor {
    return this.#binary(B.ne, other, "ne");
  }
  /** this < other (bool). */
  lt(other: Operand): Tensor {
    return this.#binary(B.lt, other, "lt");
  }
  /** this <= other (bool). */
  le(other: Operand): Tensor {
    return this.#binary(B.le, other, "le");
  }
  /** this > other (bool). */
  gt(other: Operand): Tensor {
    return this.#binary(B.gt, other, "gt");
  }
  /** this >= other (bool). */
  ge(other: Operand): Tensor {
    return this.#binary(B.ge, other, "ge");
  }
  /** Logical and of two bool tensors. */
  logicalAnd(other: Tensor): Tensor {
    return this.#binary(B.logicalAnd, other, "logicalAnd");
  }
  /** Logical or of two bool tensors. */
  logicalOr(other: Tensor): Tensor {
    return this.#binary(B.logicalOr, other, "logicalOr");
  }
  /** Matrix product (batched, broadcasting like torch.matmul). */
  matmul(other: Tensor): Tensor {
    return this.#binary(B.matmul, other, "matmul");
  }

  /** -this. */
  neg(): Tensor {
    return this.#unary(U.neg, "neg");
  }
  /** e ** this. */
  exp(): Tensor {
    return this.#unary(U.exp, "exp");
  }
  /** Natural logarithm. */
  log(): Tensor {
    return this.#unary(U.log, "log");
  }
  /** log(1 + this). */
  log1p(): Tensor {
    return this.#unary(U.log1p, "log1p");
  }
  /** exp(this) - 1. */
  expm1(): Tensor {
    return this.#unary(U.expm1, "expm1");
  }
  /** Square root. */
  sqrt(): Tensor {
    return this.#unary(U.sqrt, "sqrt");
  }
  /** 1 / sqrt(this). */
  rsqrt(): Tensor {
    return this.#unary(U.rsqrt, "rsqrt");
  }
  /** this ** 2. */
  square(): Tensor {
    return this.#unary(U.square, "square");
  }
  /** 1 / this. */
  reciprocal(): Tensor {
    return this.#unary(U.reciprocal, "reciprocal");
  }
  /** Absolute value. */
  abs(): Tensor {
    return this.#unary(U.abs, "abs");
  }
  /** Sign (-1, 0, 1). */
  sign(): Tensor {
    return this.#unary(U.sign, "sign");
  }
  /** max(this, 0). */
  relu(): Tensor {
    return this.#unary(U.relu, "relu");
  }
  /** Logistic sigmoid. */
  sigmoid(): Tensor {
    return this.#unary(U.sigmoid, "sigmoid");
  }
  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return this.#unary(U.tanh, "tanh");
  }
  /** Sine. */
  sin(): Tensor {
    return this.#unary(U.sin, "sin");
  }
  /** Cosine. */
  cos(): Tensor {
    return this.#unary(U.cos, "cos");
  }
  /** Round down. */
  floor(): Tensor {
    return this.#unary(U.floor, "floor");
  }
  /** Round up. */
  ceil(): Tensor {
    return this.#unary(U.ceil, "ceil");
  }
  /** Round half to even. */
  round(): Tensor {
    return this.#unary(U.round, "round");
  }
  /** Logical not (bool). */
  logicalNot(): Tensor {
    return this.#unary(U.logicalNot, "logicalNot");
  }
  /** NaN test (bool). */
  isnan(): Tensor {
    return this.#unary(U.isnan, "isnan");
  }
  /** Finite test (bool). */
  isfinite(): Tensor {
    return this.#unary(U.isfinite, "isfinite");
  }
  /** Limits values to [min, max]; either bound may be omitted. */
  clamp(min?: number, max?: number): Tensor {
    const p = native().lade_clamp(
      this.ptr,
      min ?? 0,
      min === undefined ? 0 : 1,
      max ?? 0,
      max === undefined ? 0 : 1,
    );
    return new Tensor(checkPtr(p, "clamp"));
  }
  /** this where `condition` holds, else `other` (torch.Tensor.where). */
  where(condition: Tensor, other: Tensor): Tensor {
    return where(condition, this, other);
  }

  // ---------------------------------------------------------------- reductions

  /** Sum over all elements, or over `dim`. */
  sum(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.sum, dim, keepdim, "sum");
  }
  /** Mean over all elements, or over `dim`. */
  mean(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.mean, dim, keepdim, "mean");
  }
  /** Product over all elements, or over `dim`. */
  prod(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.prod, dim, keepdim, "prod");
  }
  /** Maximum values over all elements, or over `dim` (values only; see argmax). */
  max(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.max, dim, keepdim, "max");
  }
  /** Minimum values over all elements, or over `dim`. */
  min(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.min, dim, keepdim, "min");
  }
  /** Index of the maximum (of the flattened tensor when no dim). */
  argmax(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.argmax, dim, keepdim, "argmax");
  }
  /** Index of the minimum. */
  argmin(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.argmin, dim, keepdim, "argmin");
  }
  /** log(sum(exp(this))) computed stably, over all elements or `dim`. */
  logsumexp(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.logsumexp, dim, keepdim, "logsumexp");
  }
  /** Unbiased standard deviation. */
  std(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.std, dim, keepdim, "std");
  }
  /** Unbiased variance. */
  var(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.var, dim, keepdim, "var");
  }
  /** True where all are true. */
  all(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.all, dim, keepdim, "all");
  }
  /** True where any is true. */
  any(dim?: number, keepdim = false): Tensor {
    return this.#reduce(R.any, dim, keepdim, "any");
  }
  /** The k largest (or smallest) values along `dim` and their indices, sorted. */
  topk(k: number, dim = -1, largest = true): [values: Tensor, indices: Tensor] {
    const slot = new BigUint64Array(2);
    checkStatus(native().lade_topk(this.ptr, k, dim, largest ? 1 : 0, slot), "topk");
    return [fromSlot(slot, 0, "topk"), fromSlot(slot, 1, "topk")];
  }
  /** Counts of each value of a non-negative int tensor. */
  bincount(minlength = 0): Tensor {
    return new Tensor(checkPtr(native().lade_bincount(this.ptr, minlength), "bincount"));
  }

  // ---------------------------------------------------------------- along a dimension

  /** Softmax along `dim`. */
  softmax(dim: number): Tensor {
    return this.#dimOp(D.softmax, dim, "softmax");
  }
  /** Log-softmax along `dim`. */
  logSoftmax(dim: number): Tensor {
    return this.#dimOp(D.logSoftmax, dim, "logSoftmax");
  }
  /** Cumulative sum along `dim`. */
  cumsum(dim: number): Tensor {
    return this.#dimOp(D.cumsum, dim, "cumsum");
  }
  /** Indices that sort along `dim`. */
  argsort(dim = -1, descending = false): Tensor {
    return this.#dimOp(descending ? D.argsortDesc : D.argsortAsc, dim, "argsort");
  }
  /** Removes a size-1 dimension. */
  squeeze(dim: number): Tensor {
    return this.#dimOp(D.squeeze, dim, "squeeze");
  }
  /** Inserts a size-1 dimension. */
  unsqueeze(dim: number): Tensor {
    return this.#dimOp(D.unsqueeze, dim, "unsqueeze");
  }

  // ---------------------------------------------------------------- indexing

  /** Values along `dim` at int64 `index` (torch.gather). */
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(checkPtr(native().lade_gather(this.ptr, dim, index.ptr), "gather"));
  }
  /** A copy with `src` added at `index` along `dim`. */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(
      checkPtr(native().lade_scatter_add(this.ptr, dim, index.ptr, src.ptr), "scatterAdd"),
    );
  }
  /** Slices along `dim` picked by an int64 index vector. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(
      checkPtr(native().lade_index_select(this.ptr, dim, index.ptr), "indexSelect"),
    );
  }
  /** The elements where `mask` is true, as 1-D. */
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(checkPtr(native().lade_masked_select(this.ptr, mask.ptr), "maskedSelect"));
  }
  /** A copy with `value` where `mask` is true. */
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(checkPtr(native().lade_masked_fill(this.ptr, mask.ptr, value), "maskedFill"));
  }
  /** One-hot rows (int64) for int64 labels. */
  oneHot(classes: number): Tensor {
    return new Tensor(checkPtr(native().lade_one_hot(this.ptr, classes), "oneHot"));
  }
  /** The slice at `index` along `dim`, that dimension removed. */
  select(dim: number, index: number): Tensor {
    return new Tensor(checkPtr(native().lade_select(this.ptr, dim, BigInt(index)), "select"));
  }
  /** `length` slices along `dim` from `start`. */
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(
      checkPtr(native().lade_narrow(this.ptr, dim, BigInt(start), BigInt(length)), "narrow"),
    );
  }
  /** Slices [start, end) along `dim` with a step. */
  slice(dim: number, start: number, end: number, step = 1): Tensor {
    return new Tensor(
      checkPtr(
        native().lade_slice(
          this.ptr,
          dim,
          BigInt(start),
          BigInt(Math.min(end, Number.MAX_SAFE_INTEGER)),
          BigInt(step),
        ),
        "slice",
      ),
    );
  }

  // ---------------------------------------------------------------- shape

  /** The same elements with a new shape (-1 infers a size). */
  reshape(...shape: number[]): Tensor {
    const s = int64s(shape);
    return new Tensor(checkPtr(native().lade_reshape(this.ptr, s, s.length), "reshape"));
  }
  /** Broadcasts to `shape` without copying (-1 keeps a size). */
  expand(...shape: number[]): Tensor {
    const s = int64s(shape);
    return new Tensor(checkPtr(native().lade_expand(this.ptr, s, s.length), "expand"));
  }
  /** Reorders the dimensions. */
  permute(...dims: number[]): Tensor {
    const d = int64s(dims);
    return new Tensor(checkPtr(native().lade_permute(this.ptr, d, d.length), "permute"));
  }
  /** Swaps two dimensions. */
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(checkPtr(native().lade_transpose(this.ptr, dim0, dim1), "transpose"));
  }
  /** Transpose of a 2-D tensor. */
  t(): Tensor {
    return this.#unary(U.t, "t");
  }
  /** Reverses the order along `dims`. */
  flip(...dims: number[]): Tensor {
    const d = int64s(dims);
    return new Tensor(checkPtr(native().lade_flip(this.ptr, d, d.length), "flip"));
  }
  /** Constant padding; `pads` as in torch.nn.functional.pad (last dim first). */
  pad(pads: readonly number[], value = 0): Tensor {
    const p = int64s(pads);
    return new Tensor(checkPtr(native().lade_pad(this.ptr, p, p.length, value), "pad"));
  }
  /** 1-D view of all elements. */
  flatten(): Tensor {
    return this.#unary(U.flatten, "flatten");
  }
  /** The same values in contiguous memory. */
  contiguous(): Tensor {
    return this.#unary(U.contiguous, "contiguous");
  }
  /** A copy (recorded by autograd). */
  clone(): Tensor {
    return this.#unary(U.clone, "clone");
  }
  /** The same values cut from the autograd graph. */
  detach(): Tensor {
    return this.#unary(U.detach, "detach");
  }
  /** A second owner of the same tensor (same storage and autograd identity). */
  share(): Tensor {
    return new Tensor(checkPtr(native().lade_tensor_share(this.ptr), "share"));
  }

  // ---------------------------------------------------------------- conversion

  /**
   * Moves and/or casts: `to("cuda:0")`, `to("float64")`, `to("cpu", "float32")`.
   * Names of dtypes and devices cannot clash, so one or two arguments are read by their value.
   */
  to(
    target: Device | DType | "cuda",
    dtype?: DType,
    options: { nonBlocking?: boolean } = {},
  ): Tensor {
    let dt = -1;
    let devType = -1;
    let devIndex = 0;
    if (isDType(target)) {
      dt = dtypeCode(target);
    } else {
      let parsed;
      try {
        parsed = parseDevice(target);
      } catch {
        throw new InputError(
          "target",
          `unknown device or dtype '${target}' (devices: cpu, cuda, cuda:N; dtypes: ${
            DTYPE_NAMES.join(", ")
          })`,
        );
      }
      devType = parsed.code.type;
      devIndex = parsed.code.index;
    }
    if (dtype !== undefined) dt = dtypeCode(dtype);
    const p = native().lade_to(this.ptr, dt, devType, devIndex, options.nonBlocking ? 1 : 0);
    return new Tensor(checkPtr(p, "to"));
  }

  /** A readable summary: shape, dtype, device and (for small tensors) values. */
  override toString(): string {
    if (this.disposed) return "Tensor(disposed)";
    const values = this.numel <= 16 ? ` ${JSON.stringify(this.toList())}` : "";
    return `Tensor(${JSON.stringify(this.shape)}, ${this.dtype}, ${this.device})${values}`;
  }
}

/**
 * Elementwise choice: `a` where `condition` holds, else `b` (broadcasting).
 *
 * @example Clipping negatives to zero
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor, where, zeros } from "./mod.ts";
 *
 * using x = tensor([-1, 2, -3]);
 * using positive = x.gt(0);
 * using z = zeros([3]);
 * using y = where(positive, x, z);
 * assert.deepEqual(y.toList(), [0, 2, 0]);
 * ```
 */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return new Tensor(checkPtr(native().lade_where(condition.ptr, a.ptr, b.ptr), "where"));
}

/**
 * Joins tensors along an existing dimension.
 *
 * @example Joining rows
 * ```ts
 * import assert from "node:assert/strict";
 * import { cat, tensor } from "./mod.ts";
 *
 * using a = tensor([1, 2], [1, 2]);
 * using b = tensor([3, 4, 5, 6], [2, 2]);
 * using c = cat([a, b]);
 * assert.deepEqual([c.shape, c.toList()], [[3, 2], [1, 2, 3, 4, 5, 6]]);
 * ```
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  const h = handleList(tensors);
  return new Tensor(checkPtr(native().lade_cat(h, h.length, dim), "cat"));
}

/**
 * Joins tensors along a new dimension.
 *
 * @example Stacking vectors into a matrix
 * ```ts
 * import assert from "node:assert/strict";
 * import { stack, tensor } from "./mod.ts";
 *
 * using a = tensor([1, 2]);
 * using b = tensor([3, 4]);
 * using m = stack([a, b], 1);
 * assert.deepEqual([m.shape, m.toList()], [[2, 2], [1, 3, 2, 4]]);
 * ```
 */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  const h = handleList(tensors);
  return new Tensor(checkPtr(native().lade_stack(h, h.length, dim), "stack"));
}

/**
 * `input` [N, C, H, W] resampled through one affine map per image, `theta`
 * [N, 2, 3] in normalised coordinates: F.grid_sample(input,
 * F.affine_grid(theta, input.shape)), zeros outside the image, nearest
 * neighbour or bilinear, `alignCorners` as in PyTorch (default false).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "./create.ts";
 * import { affineGridSample } from "./tensor.ts";
 * // x -> -x: a horizontal flip; the sampling points fall on pixel centres.
 * using image = tensor(new Float32Array([1, 2]), [1, 1, 1, 2]);
 * using theta = tensor(new Float32Array([-1, 0, 0, 0, 1, 0]), [1, 2, 3]);
 * using flipped = affineGridSample(image, theta);
 * assert.deepEqual(flipped.toList(), [2, 1]);
 * ```
 */
export function affineGridSample(
  input: Tensor,
  theta: Tensor,
  options: { nearest?: boolean; alignCorners?: boolean } = {},
): Tensor {
  return new Tensor(
    checkPtr(
      native().lade_affine_grid_sample(
        input.ptr,
        theta.ptr,
        options.nearest ? 1 : 0,
        options.alignCorners ? 1 : 0,
      ),
      "affineGridSample",
    ),
  );
}
