/**
 * The one FFI symbol table of lade's native library, and its loading.
 *
 * Every entry point returns a handle (NULL on failure) or an int32 status
 * (0 on success, -1 on failure); after a failure `lade_last_error` returns the
 * message. Exceptions never cross the ABI: see native/src/common.h.
 *
 * The C declarations, with what each function does, are in
 * native/include/lade.h; `scripts/check_abi.ts` (run by `deno task check` and
 * the tests) compares this table with them parameter by parameter. The
 * library's ABI version is checked when it is opened.
 *
 * @module
 */

import { NativeLibraryError } from "../errors.ts";
import { resolveLibraryPath } from "./library_path.ts";

/** The `LADE_ABI_VERSION` of native/include/lade.h this code was written for. */
export const ABI_VERSION = 4;

/** The C ABI of `native/` as Deno FFI declarations, in lade.h's order. */
export const symbols = {
  // ---- runtime: errors, versions, threads, devices, seeds, generators (runtime.cpp) ----
  lade_last_error: { parameters: [], result: "pointer" },
  lade_abi_version: { parameters: [], result: "i32" },
  lade_torch_version: { parameters: [], result: "pointer" },
  lade_live_tensors: { parameters: [], result: "i64" },
  lade_cuda_is_available: { parameters: [], result: "i32" },
  lade_cuda_device_count: { parameters: [], result: "i32" },
  lade_device_check: { parameters: ["i32", "i32"], result: "i32" },
  lade_device_synchronize: { parameters: ["i32", "i32"], result: "i32" },
  lade_set_num_threads: { parameters: ["i32"], result: "i32" },
  lade_get_num_threads: { parameters: [], result: "i32" },
  lade_manual_seed: { parameters: ["u64"], result: "i32" },
  lade_set_grad_enabled: { parameters: ["i32"], result: "i32" },
  lade_generator_new: { parameters: ["u64"], result: "pointer" },
  lade_generator_free: { parameters: ["pointer"], result: "void" },
  lade_generator_get_state: { parameters: ["pointer"], result: "pointer" },
  lade_generator_set_state: { parameters: ["pointer", "pointer"], result: "i32" },
  lade_generator_default: { parameters: [], result: "pointer" },

  // ---- tensors: creation, metadata, host copies, autograd (tensor.cpp) ----
  lade_tensor_free: { parameters: ["pointer"], result: "void" },
  lade_from_data: { parameters: ["buffer", "i64", "buffer", "i32", "i32"], result: "pointer" },
  lade_full: { parameters: ["buffer", "i32", "f64", "i32", "i32", "i32"], result: "pointer" },
  lade_arange: { parameters: ["f64", "f64", "f64", "i32", "i32", "i32"], result: "pointer" },
  lade_random: {
    parameters: ["i32", "buffer", "i32", "i32", "i32", "i32", "pointer"],
    result: "pointer",
  },
  lade_randperm: { parameters: ["i64", "i32", "i32", "pointer"], result: "pointer" },
  lade_randint: {
    parameters: ["i64", "i64", "buffer", "i32", "i32", "i32", "pointer"],
    result: "pointer",
  },
  lade_tensor_ndim: { parameters: ["pointer"], result: "i32" },
  lade_tensor_shape: { parameters: ["pointer", "buffer"], result: "i32" },
  lade_tensor_dtype: { parameters: ["pointer"], result: "i32" },
  lade_tensor_device: { parameters: ["pointer"], result: "i32" },
  lade_tensor_copy_out: { parameters: ["pointer", "buffer", "i64"], result: "i32" },
  lade_tensor_item: { parameters: ["pointer", "buffer"], result: "i32" },
  lade_tensor_share: { parameters: ["pointer"], result: "pointer" },
  lade_set_requires_grad: { parameters: ["pointer", "i32"], result: "i32" },
  lade_requires_grad: { parameters: ["pointer"], result: "i32" },
  lade_grad: { parameters: ["pointer", "buffer"], result: "i32" },
  lade_zero_grad: { parameters: ["pointer"], result: "i32" },
  lade_backward: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  lade_copy_: { parameters: ["pointer", "pointer"], result: "i32" },

  // ---- ops (ops.cpp); op codes in ops.ts ----
  lade_unary: { parameters: ["i32", "pointer"], result: "pointer" },
  lade_binary: { parameters: ["i32", "pointer", "pointer"], result: "pointer" },
  lade_binary_scalar: { parameters: ["i32", "pointer", "f64"], result: "pointer" },
  lade_reduce: { parameters: ["i32", "pointer", "i32", "i32", "i32"], result: "pointer" },
  lade_dim_op: { parameters: ["i32", "pointer", "i32"], result: "pointer" },
  lade_to: { parameters: ["pointer", "i32", "i32", "i32", "i32"], result: "pointer" },
  lade_clamp: { parameters: ["pointer", "f64", "i32", "f64", "i32"], result: "pointer" },
  lade_where: { parameters: ["pointer", "pointer", "pointer"], result: "pointer" },
  lade_gather: { parameters: ["pointer", "i32", "pointer"], result: "pointer" },
  lade_scatter_add: { parameters: ["pointer", "i32", "pointer", "pointer"], result: "pointer" },
  lade_index_select: { parameters: ["pointer", "i32", "pointer"], result: "pointer" },
  lade_masked_select: { parameters: ["pointer", "pointer"], result: "pointer" },
  lade_masked_fill: { parameters: ["pointer", "pointer", "f64"], result: "pointer" },
  lade_one_hot: { parameters: ["pointer", "i32"], result: "pointer" },
  lade_bincount: { parameters: ["pointer", "i32"], result: "pointer" },
  lade_topk: { parameters: ["pointer", "i32", "i32", "i32", "buffer"], result: "i32" },
  lade_reshape: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  lade_expand: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  lade_permute: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  lade_transpose: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  lade_flip: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  lade_narrow: { parameters: ["pointer", "i32", "i64", "i64"], result: "pointer" },
  lade_slice: { parameters: ["pointer", "i32", "i64", "i64", "i64"], result: "pointer" },
  lade_select: { parameters: ["pointer", "i32", "i64"], result: "pointer" },
  lade_pad: { parameters: ["pointer", "buffer", "i32", "f64"], result: "pointer" },
  lade_cat: { parameters: ["buffer", "i32", "i32"], result: "pointer" },
  lade_stack: { parameters: ["buffer", "i32", "i32"], result: "pointer" },
  lade_affine_grid_sample: {
    parameters: ["pointer", "pointer", "i32", "i32"],
    result: "pointer",
  },

  // ---- images: decoding, encoding, header probing (data_image.cpp) ----
  lade_image_read: { parameters: ["buffer", "i64"], result: "pointer" },
  lade_image_prepare: { parameters: ["buffer", "i32", "i32", "i32", "i64"], result: "pointer" },
  lade_image_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  lade_image_probe: {
    parameters: ["buffer", "i64", "i32", "i32", "i64", "buffer"],
    result: "i32",
  },
  lade_image_verify: {
    parameters: ["buffer", "i64", "i32", "i32", "i64"],
    result: "pointer",
    nonblocking: true,
  },
  lade_color_jitter_draw: {
    parameters: ["u64", "i32", "i64", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  lade_image_color_jitter: { parameters: ["pointer", "buffer", "buffer"], result: "pointer" },

  // ---- batch loaders (data_batch.cpp) ----
  lade_data_loader_from_tensor: {
    parameters: [
      "pointer",
      "buffer",
      "i64",
      "i32",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "u64",
      "i32",
    ],
    result: "pointer",
  },
  lade_data_loader_resident: {
    parameters: [
      "pointer",
      "buffer",
      "i64",
      "i32",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "u64",
    ],
    result: "pointer",
  },
  lade_data_loader_from_list: {
    parameters: [
      "buffer",
      "i64",
      "buffer",
      "i64",
      "i32",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "u64",
      "i32",
      "i64",
    ],
    result: "pointer",
  },
  lade_data_loader_set_color_jitter: {
    parameters: ["pointer", "f32", "f32", "f32"],
    result: "i32",
  },
  lade_data_loader_set_crop_scale: { parameters: ["pointer", "f64", "f64"], result: "i32" },
  lade_data_loader_submit: {
    parameters: ["pointer", "i64", "buffer", "i32", "i32", "i64"],
    result: "i32",
  },
  lade_data_loader_wait: { parameters: ["pointer", "i64"], result: "i32", nonblocking: true },
  lade_data_loader_take: { parameters: ["pointer", "i64", "buffer"], result: "i32" },
  lade_data_loader_cancel: { parameters: ["pointer"], result: "i32" },
  lade_data_loader_free: { parameters: ["pointer"], result: "void" },

  // ---- models (model_api.cpp, model_*.cpp) ----
  lade_model_new: { parameters: ["buffer", "i32", "i32", "i32", "f64"], result: "pointer" },
  lade_model_architectures: { parameters: [], result: "pointer" },
  lade_model_free: { parameters: ["pointer"], result: "void" },
  lade_model_to: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  lade_model_set_train: { parameters: ["pointer", "i32"], result: "i32" },
  lade_model_freeze: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  lade_model_state_names: { parameters: ["pointer"], result: "pointer" },
  lade_model_state_tensors: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  lade_model_set_precision: { parameters: ["pointer", "i32"], result: "i32" },
  lade_model_num_params: { parameters: ["pointer"], result: "i64" },
  lade_model_feature_dim: { parameters: ["pointer"], result: "i32" },
  lade_model_forward: { parameters: ["pointer", "pointer"], result: "pointer" },
  lade_model_forward_features: { parameters: ["pointer", "pointer", "buffer"], result: "i32" },
  lade_model_state_vector: { parameters: ["pointer", "i32"], result: "pointer" },
  lade_model_tensors: { parameters: ["pointer", "i32", "buffer", "i32"], result: "i32" },
  lade_model_serialize: { parameters: ["pointer"], result: "pointer" },
  lade_model_deserialize: { parameters: ["pointer", "buffer", "i64"], result: "i32" },

  // ---- optimiser (optim.cpp) ----
  lade_sgd_new: { parameters: ["pointer", "f64", "f64", "f64", "i32"], result: "pointer" },
  lade_sgd_free: { parameters: ["pointer"], result: "void" },
  lade_sgd_set_lr: { parameters: ["pointer", "f64"], result: "i32" },
  lade_sgd_set_group_lr: { parameters: ["pointer", "i32", "f64"], result: "i32" },
  lade_sgd_set_frozen: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  lade_sgd_zero_grad: { parameters: ["pointer"], result: "i32" },
  lade_sgd_step: { parameters: ["pointer"], result: "i32" },
  lade_sgd_serialize: { parameters: ["pointer"], result: "pointer" },
  lade_sgd_deserialize: { parameters: ["pointer", "buffer", "i64"], result: "i32" },
  lade_sgd_flat_grad: { parameters: ["pointer"], result: "pointer" },

  // ---- CUDA: build facts, devices, streams, graphs (cuda.cpp) ----
  lade_build_info: { parameters: [], result: "pointer" },
  lade_cuda_device_info: { parameters: ["i32"], result: "pointer" },
  lade_cuda_memory_stats: { parameters: ["i32", "buffer"], result: "i32" },
  lade_cuda_use_side_stream: { parameters: ["i32", "i32"], result: "i32" },
  lade_set_cudnn_benchmark: { parameters: ["i32"], result: "i32" },
  lade_graph_new: { parameters: [], result: "pointer" },
  lade_graph_capture_begin: { parameters: ["pointer"], result: "i32" },
  lade_graph_capture_end: { parameters: ["pointer"], result: "i32" },
  lade_graph_capture_abort: { parameters: ["pointer"], result: "i32" },
  lade_graph_replay: { parameters: ["pointer"], result: "i32" },
  lade_graph_free: { parameters: ["pointer"], result: "void" },
  // ---- process groups (native/src/dist.cpp) ----
  /** int32_t lade_dist_backends(void): bit mask, 1 << backend code (0 gloo, 1 nccl). */
  lade_dist_backends: { parameters: [], result: "i32" },
  /** ProcessGroup* lade_dist_new(int32_t backend, int32_t rank, int32_t world_size, const char* master_addr /* NUL-terminated *\/, int32_t master_port, int64_t timeout_ms, int32_t device_index): blocks until every rank joined. */
  lade_dist_new: {
    parameters: ["i32", "i32", "i32", "buffer", "i32", "i64", "i32"],
    result: "pointer",
  },
  /** void lade_dist_free(ProcessGroup* pg). */
  lade_dist_free: { parameters: ["pointer"], result: "void" },
  /** int32_t lade_dist_all_reduce(ProcessGroup* pg, Tensor* flat, int32_t op /* 0 sum, 1 avg *\/, int64_t bucket_bytes): in place, bucketed. */
  lade_dist_all_reduce: { parameters: ["pointer", "pointer", "i32", "i64"], result: "i32" },
  /** Tensor* lade_dist_all_gather(ProcessGroup* pg, Tensor* t, const int64_t* sizes /* world_size dim-0 sizes, NULL: all equal *\/): with autograd. */
  lade_dist_all_gather: { parameters: ["pointer", "pointer", "buffer"], result: "pointer" },
  /** int32_t lade_dist_broadcast(ProcessGroup* pg, Tensor* const* handles, int32_t n, int32_t root): in place. */
  lade_dist_broadcast: { parameters: ["pointer", "buffer", "i32", "i32"], result: "i32" },
  /** int32_t lade_dist_barrier(ProcessGroup* pg). */
  lade_dist_barrier: { parameters: ["pointer"], result: "i32" },
  // (end of process groups section)
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library's symbols. */
export type Native = Deno.DynamicLibrary<typeof symbols>["symbols"];

let loaded: { lib: Deno.DynamicLibrary<typeof symbols>; path: string } | undefined;

/** What runs once the library is open (see onLibraryOpen). */
const openHooks: (() => void)[] = [];

/**
 * Runs `hook` once the native library is open: at once when it is already,
 * else right after it opens (the command line sets the default thread
 * count there, so that a command that never loads libtorch never waits).
 */
export function onLibraryOpen(hook: () => void): void {
  if (loaded) hook();
  else openHooks.push(hook);
}

const HINT = "build it with 'deno task build' (or 'deno task setup'), or set LADE_NATIVE_LIB";

/** The library's ABI version, read through a table of that one symbol (any version has it). */
function abiVersion(path: string): number {
  let probe: Deno.DynamicLibrary<{ lade_abi_version: typeof symbols.lade_abi_version }>;
  try {
    probe = Deno.dlopen(path, { lade_abi_version: symbols.lade_abi_version });
  } catch (e) {
    throw new NativeLibraryError(
      `cannot open lade's native library ${path}: ${(e as Error).message} (${HINT})`,
    );
  }
  try {
    return probe.symbols.lade_abi_version();
  } finally {
    probe.close();
  }
}

function open(): { lib: Deno.DynamicLibrary<typeof symbols>; path: string } {
  if (loaded) return loaded;
  const path = resolveLibraryPath();
  const version = abiVersion(path);
  if (version !== ABI_VERSION) {
    throw new NativeLibraryError(
      `lade's native library ${path} has ABI version ${version} but this code needs ` +
        `${ABI_VERSION}: rebuild with deno task build`,
    );
  }
  try {
    loaded = { lib: Deno.dlopen(path, symbols), path };
  } catch (e) {
    throw new NativeLibraryError(
      `cannot open lade's native library ${path}: ${(e as Error).message} (${HINT})`,
    );
  }
  for (const hook of openHooks.splice(0)) hook();
  return loaded;
}

/** The native symbols, opening the library on first use. */
export function native(): Native {
  return (loaded ?? open()).lib.symbols;
}

/**
 * The path of the opened native library.
 *
 * @example Where the native library was opened from
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeLibraryPath } from "./mod.ts";
 *
 * assert.match(nativeLibraryPath(), /liblade\.(so|dylib)$/);
 * ```
 */
export function nativeLibraryPath(): string {
  return (loaded ?? open()).path;
}
