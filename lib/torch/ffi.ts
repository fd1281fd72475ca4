/**
 * The one FFI symbol table of lade's native library, and its loading.
 *
 * Every entry point returns a handle (NULL on failure) or an int32 status
 * (0 on success, -1 on failure); after a failure `lade_last_error` returns the
 * message. Exceptions never cross the ABI: see native/src/common.h.
 *
 * @module
 */

import { resolveLibraryPath } from "./library_path.ts";

/** The C ABI of `native/` as Deno FFI declarations. */
export const symbols = {
  // ---- runtime (native/src/runtime.cpp) ----
  /** const char* lade_last_error(void): this thread's last error message. */
  lade_last_error: { parameters: [], result: "pointer" },
  /** int32_t lade_abi_version(void). */
  lade_abi_version: { parameters: [], result: "i32" },
  /** const char* lade_torch_version(void): libtorch's version. */
  lade_torch_version: { parameters: [], result: "pointer" },
  /** int64_t lade_live_tensors(void): tensor handles not yet freed. */
  lade_live_tensors: { parameters: [], result: "i64" },
  /** int32_t lade_cuda_is_available(void). */
  lade_cuda_is_available: { parameters: [], result: "i32" },
  /** int32_t lade_cuda_device_count(void). */
  lade_cuda_device_count: { parameters: [], result: "i32" },
  /** int32_t lade_device_check(int32_t type /* 0 cpu, 1 cuda *\/, int32_t index). */
  lade_device_check: { parameters: ["i32", "i32"], result: "i32" },
  /** int32_t lade_device_synchronize(int32_t type, int32_t index). */
  lade_device_synchronize: { parameters: ["i32", "i32"], result: "i32" },
  /** int32_t lade_set_num_threads(int32_t n). */
  lade_set_num_threads: { parameters: ["i32"], result: "i32" },
  /** int32_t lade_get_num_threads(void). */
  lade_get_num_threads: { parameters: [], result: "i32" },
  /** int32_t lade_manual_seed(uint64_t seed). */
  lade_manual_seed: { parameters: ["u64"], result: "i32" },
  /** int32_t lade_set_grad_enabled(int32_t enabled): returns the previous mode. */
  lade_set_grad_enabled: { parameters: ["i32"], result: "i32" },
  /** Generator* lade_generator_new(uint64_t seed). */
  lade_generator_new: { parameters: ["u64"], result: "pointer" },
  /** Generator* lade_generator_default(void): a handle sharing the global CPU generator. */
  lade_generator_default: { parameters: [], result: "pointer" },
  /** void lade_generator_free(Generator* g). */
  lade_generator_free: { parameters: ["pointer"], result: "void" },
  /** Tensor* lade_generator_get_state(Generator* g): uint8 state. */
  lade_generator_get_state: { parameters: ["pointer"], result: "pointer" },
  /** int32_t lade_generator_set_state(Generator* g, Tensor* state). */
  lade_generator_set_state: { parameters: ["pointer", "pointer"], result: "i32" },

  // ---- tensors (native/src/tensor.cpp) ----
  /** void lade_tensor_free(Tensor* t). */
  lade_tensor_free: { parameters: ["pointer"], result: "void" },
  /** Tensor* lade_from_data(const void* data, int64_t nbytes, const int64_t* shape, int32_t ndim, int32_t dtype). */
  lade_from_data: {
    parameters: ["buffer", "i64", "buffer", "i32", "i32"],
    result: "pointer",
  },
  /** Tensor* lade_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype, int32_t device_type, int32_t device_index). */
  lade_full: { parameters: ["buffer", "i32", "f64", "i32", "i32", "i32"], result: "pointer" },
  /** Tensor* lade_arange(double start, double end, double step, int32_t dtype, int32_t device_type, int32_t device_index). */
  lade_arange: { parameters: ["f64", "f64", "f64", "i32", "i32", "i32"], result: "pointer" },
  /** Tensor* lade_random(int32_t kind /* 0 uniform, 1 normal *\/, const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device_type, int32_t device_index, Generator* gen /* NULL: global *\/). */
  lade_random: {
    parameters: ["i32", "buffer", "i32", "i32", "i32", "i32", "pointer"],
    result: "pointer",
  },
  /** Tensor* lade_randperm(int64_t n, int32_t device_type, int32_t device_index, Generator* gen). */
  lade_randperm: { parameters: ["i64", "i32", "i32", "pointer"], result: "pointer" },
  /** Tensor* lade_randint(int64_t low, int64_t high, const int64_t* shape, int32_t ndim, int32_t device_type, int32_t device_index, Generator* gen). */
  lade_randint: {
    parameters: ["i64", "i64", "buffer", "i32", "i32", "i32", "pointer"],
    result: "pointer",
  },
  /** int32_t lade_tensor_ndim(Tensor* t). */
  lade_tensor_ndim: { parameters: ["pointer"], result: "i32" },
  /** int32_t lade_tensor_shape(Tensor* t, int64_t* out /* ndim values *\/). */
  lade_tensor_shape: { parameters: ["pointer", "buffer"], result: "i32" },
  /** int32_t lade_tensor_dtype(Tensor* t): dtype code. */
  lade_tensor_dtype: { parameters: ["pointer"], result: "i32" },
  /** int32_t lade_tensor_device(Tensor* t): type * 1000 + index. */
  lade_tensor_device: { parameters: ["pointer"], result: "i32" },
  /** int64_t lade_tensor_numel(Tensor* t). */
  lade_tensor_numel: { parameters: ["pointer"], result: "i64" },
  /** int32_t lade_tensor_copy_out(Tensor* t, void* out, int64_t nbytes). */
  lade_tensor_copy_out: { parameters: ["pointer", "buffer", "i64"], result: "i32" },
  /** int32_t lade_tensor_item(Tensor* t, double* out). */
  lade_tensor_item: { parameters: ["pointer", "buffer"], result: "i32" },
  /** Tensor* lade_tensor_share(Tensor* t): a second handle to the same tensor. */
  lade_tensor_share: { parameters: ["pointer"], result: "pointer" },
  /** int32_t lade_set_requires_grad(Tensor* t, int32_t flag). */
  lade_set_requires_grad: { parameters: ["pointer", "i32"], result: "i32" },
  /** int32_t lade_requires_grad(Tensor* t). */
  lade_requires_grad: { parameters: ["pointer"], result: "i32" },
  /** int32_t lade_grad(Tensor* t, Tensor** out /* NULL when none *\/). */
  lade_grad: { parameters: ["pointer", "buffer"], result: "i32" },
  /** int32_t lade_zero_grad(Tensor* t). */
  lade_zero_grad: { parameters: ["pointer"], result: "i32" },
  /** int32_t lade_backward(Tensor* t, Tensor* grad /* NULL for a scalar *\/, int32_t retain_graph). */
  lade_backward: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  /** int32_t lade_copy_(Tensor* dst, Tensor* src): in-place copy without autograd. */
  lade_copy_: { parameters: ["pointer", "pointer"], result: "i32" },

  // ---- ops (native/src/ops.cpp; op codes in ops.ts) ----
  /** Tensor* lade_unary(int32_t op, Tensor* a). */
  lade_unary: { parameters: ["i32", "pointer"], result: "pointer" },
  /** Tensor* lade_binary(int32_t op, Tensor* a, Tensor* b). */
  lade_binary: { parameters: ["i32", "pointer", "pointer"], result: "pointer" },
  /** Tensor* lade_binary_scalar(int32_t op, Tensor* a, double s). */
  lade_binary_scalar: { parameters: ["i32", "pointer", "f64"], result: "pointer" },
  /** Tensor* lade_reduce(int32_t op, Tensor* a, int32_t dim, int32_t keepdim, int32_t all_dims). */
  lade_reduce: { parameters: ["i32", "pointer", "i32", "i32", "i32"], result: "pointer" },
  /** Tensor* lade_dim_op(int32_t op, Tensor* a, int32_t dim). */
  lade_dim_op: { parameters: ["i32", "pointer", "i32"], result: "pointer" },
  /** Tensor* lade_to(Tensor* a, int32_t dtype /* -1 keep *\/, int32_t device_type /* -1 keep *\/, int32_t device_index, int32_t non_blocking). */
  lade_to: { parameters: ["pointer", "i32", "i32", "i32", "i32"], result: "pointer" },
  /** Tensor* lade_clamp(Tensor* a, double lo, int32_t has_lo, double hi, int32_t has_hi). */
  lade_clamp: { parameters: ["pointer", "f64", "i32", "f64", "i32"], result: "pointer" },
  /** Tensor* lade_where(Tensor* cond, Tensor* a, Tensor* b). */
  lade_where: { parameters: ["pointer", "pointer", "pointer"], result: "pointer" },
  /** Tensor* lade_gather(Tensor* a, int32_t dim, Tensor* index). */
  lade_gather: { parameters: ["pointer", "i32", "pointer"], result: "pointer" },
  /** Tensor* lade_scatter_add(Tensor* a, int32_t dim, Tensor* index, Tensor* src). */
  lade_scatter_add: { parameters: ["pointer", "i32", "pointer", "pointer"], result: "pointer" },
  /** Tensor* lade_index_select(Tensor* a, int32_t dim, Tensor* index). */
  lade_index_select: { parameters: ["pointer", "i32", "pointer"], result: "pointer" },
  /** Tensor* lade_masked_select(Tensor* a, Tensor* mask). */
  lade_masked_select: { parameters: ["pointer", "pointer"], result: "pointer" },
  /** Tensor* lade_masked_fill(Tensor* a, Tensor* mask, double value). */
  lade_masked_fill: { parameters: ["pointer", "pointer", "f64"], result: "pointer" },
  /** Tensor* lade_one_hot(Tensor* labels, int32_t classes). */
  lade_one_hot: { parameters: ["pointer", "i32"], result: "pointer" },
  /** Tensor* lade_bincount(Tensor* a, int32_t minlength). */
  lade_bincount: { parameters: ["pointer", "i32"], result: "pointer" },
  /** int32_t lade_topk(Tensor* a, int32_t k, int32_t dim, int32_t largest, Tensor** out /* [values, indices] *\/). */
  lade_topk: { parameters: ["pointer", "i32", "i32", "i32", "buffer"], result: "i32" },
  /** Tensor* lade_reshape(Tensor* a, const int64_t* shape, int32_t ndim). */
  lade_reshape: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  /** Tensor* lade_expand(Tensor* a, const int64_t* shape, int32_t ndim). */
  lade_expand: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  /** Tensor* lade_permute(Tensor* a, const int64_t* dims, int32_t ndim). */
  lade_permute: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  /** Tensor* lade_transpose(Tensor* a, int32_t d0, int32_t d1). */
  lade_transpose: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  /** Tensor* lade_flip(Tensor* a, const int64_t* dims, int32_t ndim). */
  lade_flip: { parameters: ["pointer", "buffer", "i32"], result: "pointer" },
  /** Tensor* lade_narrow(Tensor* a, int32_t dim, int64_t start, int64_t length). */
  lade_narrow: { parameters: ["pointer", "i32", "i64", "i64"], result: "pointer" },
  /** Tensor* lade_slice(Tensor* a, int32_t dim, int64_t start, int64_t end, int64_t step). */
  lade_slice: { parameters: ["pointer", "i32", "i64", "i64", "i64"], result: "pointer" },
  /** Tensor* lade_select(Tensor* a, int32_t dim, int64_t index). */
  lade_select: { parameters: ["pointer", "i32", "i64"], result: "pointer" },
  /** Tensor* lade_pad(Tensor* a, const int64_t* pads /* (before, after) from the last dim *\/, int64_t n, double value). */
  lade_pad: { parameters: ["pointer", "buffer", "i32", "f64"], result: "pointer" },
  /** Tensor* lade_cat(Tensor* const* handles, int32_t n, int32_t dim). */
  lade_cat: { parameters: ["buffer", "i32", "i32"], result: "pointer" },
  /** Tensor* lade_stack(Tensor* const* handles, int32_t n, int32_t dim). */
  lade_stack: { parameters: ["buffer", "i32", "i32"], result: "pointer" },
  // ---- data: readers, image decoding, batches (native/src/data_*.cpp) ----
  /** Tensor* lade_image_read(const char* path /* NUL-terminated *\/): a JPEG or PNG file as uint8 [C, H, W], C 1 (grey) or 3. */
  lade_image_read: { parameters: ["buffer"], result: "pointer" },
  /** int32_t lade_image_write(Tensor* image /* uint8 [C, H, W], C 1 or 3 *\/, const char* path /* .png, .jpg or .jpeg *\/, int32_t quality /* JPEG 1..100 *\/): atomic. */
  lade_image_write: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  /** int32_t lade_image_probe(const char* paths /* n NUL-separated *\/, int64_t nbytes, int32_t n, int32_t threads, int32_t* out /* n x 3: width, height, channels; zeros when bad *\/): the number of unreadable headers (-1 on failure); the first one's reason becomes the last error. */
  lade_image_probe: { parameters: ["buffer", "i64", "i32", "i32", "buffer"], result: "i32" },
  /** Loader* lade_data_loader_from_tensor(Tensor* images /* uint8 [N, C, S, S] *\/, const int32_t* labels, int64_t n, int32_t train, int32_t pad, int32_t flip, const float* mean, const float* std /* C values *\/, int32_t device_type, int32_t device_index, uint64_t seed, int32_t workers). */
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
  /** Loader* lade_data_loader_from_list(const char* paths /* n NUL-separated *\/, int64_t nbytes, const int32_t* labels, int64_t n, int32_t image_size, int32_t train, int32_t flip, const float* mean, const float* std /* 3 values *\/, int32_t device_type, int32_t device_index, uint64_t seed, int32_t workers). */
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
    ],
    result: "pointer",
  },
  /** int32_t lade_data_loader_submit(Loader* l, int64_t seq, const int32_t* indices, int32_t n, int32_t epoch, int64_t position /* of indices[0] in the epoch *\/): queues a batch. */
  lade_data_loader_submit: {
    parameters: ["pointer", "i64", "buffer", "i32", "i32", "i64"],
    result: "i32",
  },
  /** int32_t lade_data_loader_wait(Loader* l, int64_t seq): blocks (off the JS thread) until batch seq is ready or failed. */
  lade_data_loader_wait: { parameters: ["pointer", "i64"], result: "i32", nonblocking: true },
  /** int32_t lade_data_loader_take(Loader* l, int64_t seq, Tensor** out /* [images float32 [B,C,S,S], labels int64 [B]] *\/). */
  lade_data_loader_take: { parameters: ["pointer", "i64", "buffer"], result: "i32" },
  /** int32_t lade_data_loader_cancel(Loader* l): drops queued batches, waits for the workers to go idle. */
  lade_data_loader_cancel: { parameters: ["pointer"], result: "i32" },
  /** void lade_data_loader_free(Loader* l). */
  lade_data_loader_free: { parameters: ["pointer"], result: "void" },
  // (end of data section)

  // ---- models and optimiser (native/src/model_*.cpp, native/src/optim.cpp) ----
  /** Model* lade_model_new(const char* arch /* NUL-terminated *\/, int32_t classes, int32_t in_channels, int32_t head /* 0 linear, 1 cosine *\/, double scale /* cosine only *\/): on the CPU, train mode, drawn from the global generator. */
  lade_model_new: { parameters: ["buffer", "i32", "i32", "i32", "f64"], result: "pointer" },
  /** void lade_model_free(Model* m). */
  lade_model_free: { parameters: ["pointer"], result: "void" },
  /** int32_t lade_model_to(Model* m, int32_t device_type, int32_t device_index). */
  lade_model_to: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  /** int32_t lade_model_set_train(Model* m, int32_t train /* 1 train, 0 eval *\/). */
  lade_model_set_train: { parameters: ["pointer", "i32"], result: "i32" },
  /** int64_t lade_model_num_params(Model* m): parameter elements, -1 on error. */
  lade_model_num_params: { parameters: ["pointer"], result: "i64" },
  /** int32_t lade_model_feature_dim(Model* m): features before the head, -1 on error. */
  lade_model_feature_dim: { parameters: ["pointer"], result: "i32" },
  /** Tensor* lade_model_forward(Model* m, Tensor* images): logits [N, classes], with autograd. */
  lade_model_forward: { parameters: ["pointer", "pointer"], result: "pointer" },
  /** int32_t lade_model_forward_features(Model* m, Tensor* images, Tensor** out /* [features, logits] *\/). */
  lade_model_forward_features: { parameters: ["pointer", "pointer", "buffer"], result: "i32" },
  /** Tensor* lade_model_state_vector(Model* m, int32_t buffers /* 1: add float buffers *\/): parameters flattened, float32 CPU. */
  lade_model_state_vector: { parameters: ["pointer", "i32"], result: "pointer" },
  /** int32_t lade_model_save(Model* m, const char* path /* NUL-terminated *\/). */
  lade_model_save: { parameters: ["pointer", "buffer"], result: "i32" },
  /** int32_t lade_model_load(Model* m, const char* path /* NUL-terminated *\/): onto the model's device. */
  lade_model_load: { parameters: ["pointer", "buffer"], result: "i32" },
  /** Sgd* lade_sgd_new(Model* m, double lr, double momentum, double weight_decay, int32_t nesterov): over the model's parameters, on its device. */
  lade_sgd_new: { parameters: ["pointer", "f64", "f64", "f64", "i32"], result: "pointer" },
  /** void lade_sgd_free(Sgd* o). */
  lade_sgd_free: { parameters: ["pointer"], result: "void" },
  /** int32_t lade_sgd_set_lr(Sgd* o, double lr): every parameter group. */
  lade_sgd_set_lr: { parameters: ["pointer", "f64"], result: "i32" },
  /** int32_t lade_sgd_zero_grad(Sgd* o). */
  lade_sgd_zero_grad: { parameters: ["pointer"], result: "i32" },
  /** int32_t lade_sgd_step(Sgd* o). */
  lade_sgd_step: { parameters: ["pointer"], result: "i32" },
  /** int32_t lade_sgd_save(Sgd* o, const char* path /* NUL-terminated *\/): momentum buffers and options. */
  lade_sgd_save: { parameters: ["pointer", "buffer"], result: "i32" },
  /** int32_t lade_sgd_load(Sgd* o, const char* path /* NUL-terminated *\/). */
  lade_sgd_load: { parameters: ["pointer", "buffer"], result: "i32" },
  // (end of models section)

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

/** Raised when the native library cannot be found or opened. */
export class NativeLibraryError extends Error {
  /** Always "NativeLibraryError". */
  override name = "NativeLibraryError";
}

function open(): { lib: Deno.DynamicLibrary<typeof symbols>; path: string } {
  if (loaded) return loaded;
  const path = resolveLibraryPath();
  try {
    loaded = { lib: Deno.dlopen(path, symbols), path };
  } catch (e) {
    throw new NativeLibraryError(
      `cannot open lade's native library ${path}: ${(e as Error).message} ` +
        `(build it with 'deno task setup', or set LADE_NATIVE_LIB to its path)`,
    );
  }
  return loaded;
}

/** The native symbols, opening the library on first use. */
export function native(): Native {
  return (loaded ?? open()).lib.symbols;
}

/** The path of the opened native library. */
export function nativeLibraryPath(): string {
  return (loaded ?? open()).path;
}

/** Reads a NUL-terminated C string returned by the library. */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : new Deno.UnsafePointerView(ptr).getCString();
}
