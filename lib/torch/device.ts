/**
 * Devices, CPU threads and CUDA availability.
 *
 * @module
 */

import { InputError, TorchError } from "../errors.ts";
import { checkStatus } from "./errors.ts";
import { native } from "./ffi.ts";
import { DEVICE_TYPE } from "./ops.ts";

/** A device name: `cpu`, `cuda` (device 0) or `cuda:N`. */
export type Device = "cpu" | `cuda:${number}`;

/** A parsed device: type 0 = CPU, 1 = CUDA, and its index. */
export interface DeviceCode {
  /** 0 = CPU, 1 = CUDA (`DEVICE_TYPE` in ops.ts). */
  readonly type: number;
  /** The device index (0 for the CPU). */
  readonly index: number;
}

/** The largest device index libtorch has (its DeviceIndex is an int8). */
export const MAX_DEVICE_INDEX = 127;

/**
 * Parses and normalises a device name; throws an InputError on a malformed one.
 *
 * @example Normalised device names
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDevice } from "./mod.ts";
 *
 * assert.equal(parseDevice("cuda").name, "cuda:0");
 * assert.equal(parseDevice("cpu").name, "cpu");
 * assert.throws(() => parseDevice("gpu"), /unknown device 'gpu'/);
 * ```
 */
export function parseDevice(name: string): { name: Device; code: DeviceCode } {
  if (name === "cpu") return { name: "cpu", code: { type: DEVICE_TYPE.cpu, index: 0 } };
  const m = /^cuda(?::(\d+))?$/.exec(name);
  if (!m) throw new InputError(`unknown device '${name}' (use cpu, cuda or cuda:N)`);
  const index = m[1] === undefined ? 0 : Number(m[1]);
  // libtorch's device index is an int8 (and the FFI an i32): larger ones wrapped.
  if (index > MAX_DEVICE_INDEX) {
    throw new InputError(
      `unknown device '${name}' (use cpu, cuda or cuda:N, N from 0 to ${MAX_DEVICE_INDEX})`,
    );
  }
  return { name: `cuda:${index}`, code: { type: DEVICE_TYPE.cuda, index } };
}

/** The device name of a native device code (type * 1000 + index). */
export function deviceName(code: number): Device {
  return code === 0 ? "cpu" : `cuda:${code % 1000}`;
}

/**
 * Throws a TorchError when the device cannot be used here (no CUDA, no such GPU).
 *
 * @example The CPU is always usable
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDevice, cudaDeviceCount } from "./mod.ts";
 *
 * assert.equal(checkDevice("cpu"), "cpu");
 * if (cudaDeviceCount() === 0) assert.throws(() => checkDevice("cuda:0"));
 * ```
 */
export function checkDevice(name: string): Device {
  const { name: device, code } = parseDevice(name);
  checkStatus(native().lade_device_check(code.type, code.index), `device ${device}`);
  return device;
}

/**
 * Waits until queued work on the device has finished (for timing).
 *
 * @example Waiting for a device's work
 * ```ts
 * import { cudaAvailable, synchronize } from "./mod.ts";
 *
 * synchronize("cpu"); // nothing queued on the CPU: returns at once
 * if (cudaAvailable()) synchronize("cuda:0");
 * ```
 */
export function synchronize(name: Device): void {
  const { code } = parseDevice(name);
  checkStatus(native().lade_device_synchronize(code.type, code.index), "synchronize");
}

/**
 * True when this libtorch has CUDA and a GPU is visible.
 *
 * @example Choosing a device
 * ```ts
 * import { cudaAvailable, zeros } from "./mod.ts";
 *
 * const device = cudaAvailable() ? "cuda:0" : "cpu";
 * using x = zeros([2], { device });
 * console.assert(x.device === device);
 * ```
 */
export function cudaAvailable(): boolean {
  return native().lade_cuda_is_available() === 1;
}

/**
 * Number of visible CUDA devices.
 *
 * @example One device per GPU, none without
 * ```ts
 * import assert from "node:assert/strict";
 * import { cudaAvailable, cudaDeviceCount } from "./mod.ts";
 *
 * assert.equal(cudaDeviceCount() > 0, cudaAvailable());
 * ```
 */
export function cudaDeviceCount(): number {
  return native().lade_cuda_device_count();
}

/**
 * The most intra-op threads this machine is given: four per core, at least
 * 16. More only make libtorch's threads wait on each other (thousands take
 * minutes to start).
 */
export function maxThreads(): number {
  return Math.max(16, 4 * navigator.hardwareConcurrency);
}

/** Checks a thread count: an InputError for `threads` unless 1..maxThreads(). */
export function checkThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new InputError("threads", `must be a positive integer, got ${n}`);
  }
  const max = maxThreads();
  if (n > max) {
    throw new InputError(
      "threads",
      `${n} is more than this machine can use; the limit is ${max} (four per core, ` +
        `${navigator.hardwareConcurrency} cores)`,
    );
  }
  return n;
}

/**
 * Sets libtorch's intra-op CPU threads (1 to maxThreads()).
 *
 * @example One thread, then back
 * ```ts
 * import assert from "node:assert/strict";
 * import { getNumThreads, setNumThreads } from "./mod.ts";
 *
 * const before = getNumThreads();
 * setNumThreads(1);
 * assert.equal(getNumThreads(), 1);
 * setNumThreads(before);
 * ```
 */
export function setNumThreads(n: number): void {
  checkStatus(native().lade_set_num_threads(checkThreads(n)), "set threads");
}

/**
 * libtorch's intra-op CPU threads.
 *
 * @example At least one thread
 * ```ts
 * import assert from "node:assert/strict";
 * import { getNumThreads } from "./mod.ts";
 *
 * assert.ok(getNumThreads() >= 1);
 * ```
 */
export function getNumThreads(): number {
  return native().lade_get_num_threads();
}

/**
 * Seeds libtorch's global generators; the seed is an integer from 0 to 2^64 - 1.
 *
 * @example The same seed, the same draws
 * ```ts
 * import assert from "node:assert/strict";
 * import { manualSeed, rand } from "./mod.ts";
 *
 * manualSeed(42);
 * using a = rand([3]);
 * manualSeed(42);
 * using b = rand([3]);
 * assert.deepEqual(a.toList(), b.toList());
 * ```
 */
export function manualSeed(seed: number | bigint): void {
  checkStatus(native().lade_manual_seed(checkSeed(seed)), "manual seed");
}

/** A seed as the native library takes it (uint64); an InputError for `seed` otherwise. */
export function checkSeed(seed: number | bigint): bigint {
  const ok = typeof seed === "bigint"
    ? seed >= 0n && seed < 2n ** 64n
    : Number.isSafeInteger(seed) && seed >= 0;
  if (!ok) {
    throw new InputError(
      "seed",
      `must be an integer from 0 to ${
        typeof seed === "bigint" ? "2^64 - 1" : "2^53 - 1"
      }, got ${seed}`,
    );
  }
  return BigInt(seed);
}

/** Checks a device name: a device this machine lacks (no CUDA, no such GPU) is an InputError for `device`. */
export function useDevice(name: string): Device {
  try {
    return checkDevice(name);
  } catch (e) {
    if (!(e instanceof TorchError)) throw e;
    const why = e.nativeMessage ?? e.message.replace(/^device \S+: /, "");
    throw new InputError("device", `cannot use ${name}: ${why}`, { cause: e });
  }
}
