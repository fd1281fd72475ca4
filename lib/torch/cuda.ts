/**
 * CUDA specifics: what the build has, the GPUs and their memory, the stream
 * a training run computes on, cuDNN's autotuner, and CUDA graphs (a whole
 * training step captured once and replayed as one launch).
 *
 * On a CPU build these functions say that CUDA is absent (a TorchError), and
 * `buildInfo()` reports `cuda: false`.
 *
 * @module
 */

import { type Device, parseDevice } from "./device.ts";
import { checkPtr, checkStatus, throwLastError } from "./errors.ts";
import { native } from "./ffi.ts";
import { NativeHandle } from "./handle.ts";
import { cString } from "./strings.ts";

/** What the native library was built with (`lade_build_info`). */
export interface BuildInfo {
  /** The libtorch version it was compiled against. */
  torch: string;
  /** True for a CUDA libtorch. */
  cuda: boolean;
  /** The CUDA architectures of that libtorch, when the build knew them. */
  cuda_archs?: string;
  /** Whether the Gloo process group is built in. */
  gloo: boolean;
  /** Whether the NCCL process group is built in. */
  nccl: boolean;
  /**
   * Whether inference runs cnn28 and ResNet-32's 32- and 64-channel stages
   * on oneDNN directly (Winograd convolutions; native/src/infer_dnnl.cpp): a
   * CPU libtorch built beside oneDNN's headers (Debian's libdnnl-dev).
   */
  onednn: boolean;
  /**
   * Whether 3x3 convolutions of 16, 32 and 64 channels (ResNet-32's
   * stages) run on lade's own Winograd kernel in inference, and those of 16
   * and 32 in training (forward and backward by data;
   * native/src/winograd16.cpp): built
   * for x86-64 against a libtorch on the system's libgomp, and this CPU has
   * AVX-512F. LADE_WINOGRAD=0 turns it off at run time.
   */
  winograd16: boolean;
}

/**
 * The native library's build facts.
 *
 * @example What the native library was built with
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildInfo } from "./mod.ts";
 *
 * const info = buildInfo();
 * assert.equal(typeof info.torch, "string");
 * assert.equal(typeof info.cuda, "boolean");
 * ```
 */
export function buildInfo(): BuildInfo {
  return JSON.parse(cString(native().lade_build_info())) as BuildInfo;
}

/** One CUDA device (`lade_cuda_device_info`). */
export interface CudaDeviceInfo {
  /** Device index. */
  index: number;
  /** Its name, e.g. "NVIDIA H100 80GB HBM3". */
  name: string;
  /** Compute capability [major, minor]. */
  capability: [number, number];
  /** Streaming multiprocessors. */
  multiprocessors: number;
  /** Device memory in bytes. */
  memory_total: number;
  /** Free device memory in bytes, now. */
  memory_free: number;
}

function cudaIndex(device: Device | number): number {
  if (typeof device === "number") return device;
  const { code } = parseDevice(device);
  return code.type === 1 ? code.index : -1;
}

/**
 * Facts about a CUDA device (a TorchError when there is none).
 *
 * @example A GPU's name and memory; none without CUDA
 * ```ts
 * import assert from "node:assert/strict";
 * import { cudaAvailable, cudaDeviceInfo, TorchError } from "./mod.ts";
 *
 * if (cudaAvailable()) assert.ok(cudaDeviceInfo(0).memory_total > 0);
 * else assert.throws(() => cudaDeviceInfo(0), TorchError);
 * ```
 */
export function cudaDeviceInfo(device: Device | number = 0): CudaDeviceInfo {
  const ptr = native().lade_cuda_device_info(cudaIndex(device));
  if (ptr === null) throwLastError("CUDA device");
  return JSON.parse(cString(ptr)) as CudaDeviceInfo;
}

/** A CUDA device's memory in bytes. */
export interface CudaMemory {
  /** Held by tensors now. */
  allocated: number;
  /** The most held by tensors since the process started. */
  peakAllocated: number;
  /** Reserved by libtorch's caching allocator (allocated plus cached). */
  reserved: number;
  /** Free on the device (outside every allocator). */
  free: number;
}

/**
 * The memory of a CUDA device.
 *
 * @example What the tensors on a GPU hold
 * ```ts
 * import assert from "node:assert/strict";
 * import { cudaAvailable, cudaMemory } from "./mod.ts";
 *
 * if (cudaAvailable()) {
 *   const m = cudaMemory(0);
 *   assert.ok(m.allocated <= m.reserved && m.allocated <= m.peakAllocated);
 * }
 * ```
 */
export function cudaMemory(device: Device | number = 0): CudaMemory {
  const out = new BigInt64Array(4);
  checkStatus(native().lade_cuda_memory_stats(cudaIndex(device), out), "CUDA memory");
  return {
    allocated: Number(out[0]),
    peakAllocated: Number(out[1]),
    reserved: Number(out[2]),
    free: Number(out[3]),
  };
}

/**
 * Sends this thread's work on a CUDA device to a dedicated stream (`on`), or
 * back to the default stream once the dedicated one has finished. CUDA graphs
 * cannot capture the default stream; a training run computes on its own.
 *
 * @example Work on a dedicated stream, then back
 * ```ts
 * import { cudaAvailable, useSideStream } from "./mod.ts";
 *
 * if (cudaAvailable()) {
 *   useSideStream("cuda:0", true);
 *   // ... capture or run work here ...
 *   useSideStream("cuda:0", false);
 * }
 * ```
 */
export function useSideStream(device: Device, on: boolean): void {
  checkStatus(native().lade_cuda_use_side_stream(cudaIndex(device), on ? 1 : 0), "CUDA stream");
}

/**
 * Turns cuDNN's autotuner on or off (worth it when input shapes stay fixed).
 *
 * @example Autotuning for fixed input shapes
 * ```ts
 * import { cudaAvailable, setCudnnBenchmark } from "./mod.ts";
 *
 * if (cudaAvailable()) setCudnnBenchmark(true);
 * ```
 */
export function setCudnnBenchmark(on: boolean): void {
  checkStatus(native().lade_set_cudnn_benchmark(on ? 1 : 0), "cuDNN benchmark");
}

const freeGraph = (ptr: Deno.PointerObject) => native().lade_graph_free(ptr);

/**
 * A CUDA graph: the work queued between `captureBegin()` and `captureEnd()`
 * on this thread's current (non-default) stream is recorded, not run, and
 * `replay()` runs all of it again as one launch, on the same memory. Inputs
 * therefore go into tensors that existed before the capture (copy the next
 * batch into them), and nothing inside may wait for the device (no `item()`,
 * no host copies).
 */
export class CudaGraph extends NativeHandle {
  /** An empty graph (a TorchError on a build without CUDA). */
  constructor() {
    super("CUDA graph", freeGraph, checkPtr(native().lade_graph_new(), "CUDA graph"));
  }

  /** Starts recording this thread's work on its current stream. */
  captureBegin(): void {
    checkStatus(native().lade_graph_capture_begin(this.ptr), "CUDA graph capture");
  }

  /** Stops recording and instantiates the graph. */
  captureEnd(): void {
    checkStatus(native().lade_graph_capture_end(this.ptr), "CUDA graph capture");
  }

  /** Abandons a capture that failed half-way, so the stream works again. */
  captureAbort(): void {
    checkStatus(native().lade_graph_capture_abort(this.ptr), "CUDA graph capture");
  }

  /** Runs the recorded work again. */
  replay(): void {
    checkStatus(native().lade_graph_replay(this.ptr), "CUDA graph replay");
  }
}
