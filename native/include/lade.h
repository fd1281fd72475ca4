/*
 * lade.h — the C ABI over libtorch that lade's Deno FFI binding calls. This
 * header is the one declaration of every exported entry point and of every op
 * code; each source file in native/src includes it, so the compiler rejects a
 * definition whose signature differs. lib/torch/ffi.ts (the FFI symbol table)
 * and lib/torch/ops.ts (the op codes) mirror it, and scripts/check_abi.ts
 * (`deno task check`, tests/torch/abi_test.ts) compares them with this file
 * parameter by parameter and value by value.
 *
 * Conventions:
 *  - Handles are opaque pointers owned by the caller: a lade_tensor* is freed
 *    by lade_tensor_free, a lade_model* by lade_model_free, and so on.
 *  - Functions returning a handle return NULL on failure; functions returning
 *    int32_t status return 0 on success and -1 on failure. After a failure,
 *    lade_last_error() returns the message (thread-local).
 *  - No C++ exception ever crosses this boundary.
 *  - Devices are (type, index) pairs: see enum lade_device_type; index -1 is
 *    the current device.
 *  - Enum values are part of the ABI: add new codes at the end, never
 *    renumber. Changing a signature or a code bumps LADE_ABI_VERSION.
 */
#ifndef LADE_H
#define LADE_H
#include <stdint.h>

#ifdef __cplusplus
#define LADE_EXTERN extern "C" __attribute__((visibility("default")))
#else
#define LADE_EXTERN __attribute__((visibility("default")))
#endif

/* The version lade_abi_version() returns; lib/torch/ffi.ts expects the same. */
#define LADE_ABI_VERSION 4

/* ---- opaque handles (defined by the C++ implementation) ---- */

/** A tensor (one owner of a libtorch tensor). */
typedef struct lade_tensor lade_tensor;
/** A CPU random number generator. */
typedef struct lade_generator lade_generator;
/** A network: backbone and classifier head. */
typedef struct lade_model lade_model;
/** An SGD optimiser over one model's parameters. */
typedef struct lade_sgd lade_sgd;
/** A batch loader with its worker threads. */
typedef struct lade_data_loader lade_data_loader;
/** A c10d process group (Gloo or NCCL) with the TCPStore it met its peers through. */
typedef struct lade_process_group lade_process_group;
/** A captured CUDA graph (a training step replayed as one launch). */
typedef struct lade_graph lade_graph;

/* ---- codes ---- */

/** Element types. */
enum lade_dtype {
  LADE_FLOAT32 = 0,
  LADE_FLOAT64 = 1,
  LADE_INT64 = 2,
  LADE_INT32 = 3,
  LADE_UINT8 = 4,
  LADE_BOOL = 5,
  LADE_FLOAT16 = 6,
  LADE_BFLOAT16 = 7,
  LADE_INT16 = 8,
  LADE_INT8 = 9
};

/** Device types, the first half of a (type, index) device. */
enum lade_device_type { LADE_DEVICE_CPU = 0, LADE_DEVICE_CUDA = 1 };

/** What lade_random draws. */
enum lade_random_kind { LADE_RANDOM_UNIFORM = 0, LADE_RANDOM_NORMAL = 1 };

/** Ops of lade_unary. */
enum lade_op_unary {
  LADE_UNARY_NEG = 0,
  LADE_UNARY_EXP = 1,
  LADE_UNARY_LOG = 2,
  LADE_UNARY_SQRT = 3,
  LADE_UNARY_ABS = 4,
  LADE_UNARY_RELU = 5,
  LADE_UNARY_SIGMOID = 6,
  LADE_UNARY_TANH = 7,
  LADE_UNARY_FLOOR = 8,
  LADE_UNARY_CEIL = 9,
  LADE_UNARY_ROUND = 10,
  LADE_UNARY_SIGN = 11,
  LADE_UNARY_LOG1P = 12,
  LADE_UNARY_EXPM1 = 13,
  LADE_UNARY_SQUARE = 14,
  LADE_UNARY_LOGICAL_NOT = 15,
  LADE_UNARY_RECIPROCAL = 16,
  LADE_UNARY_SIN = 17,
  LADE_UNARY_COS = 18,
  LADE_UNARY_ISNAN = 19,
  LADE_UNARY_RSQRT = 20,
  LADE_UNARY_CONTIGUOUS = 21,
  LADE_UNARY_CLONE = 22,
  LADE_UNARY_DETACH = 23,
  LADE_UNARY_FLATTEN = 24,
  LADE_UNARY_T = 25,
  LADE_UNARY_ISFINITE = 26
};

/**
 * Ops of lade_binary (two tensors) and lade_binary_scalar (a tensor and a
 * scalar). MATMUL, LOGICAL_AND and LOGICAL_OR take two tensors only; RSUB,
 * RDIV and RPOW (scalar - a, scalar / a, scalar ** a) a scalar only.
 */
enum lade_op_binary {
  LADE_BINARY_ADD = 0,
  LADE_BINARY_SUB = 1,
  LADE_BINARY_MUL = 2,
  LADE_BINARY_DIV = 3,
  LADE_BINARY_POW = 4,
  LADE_BINARY_EQ = 5,
  LADE_BINARY_NE = 6,
  LADE_BINARY_LT = 7,
  LADE_BINARY_LE = 8,
  LADE_BINARY_GT = 9,
  LADE_BINARY_GE = 10,
  LADE_BINARY_MAXIMUM = 11,
  LADE_BINARY_MINIMUM = 12,
  LADE_BINARY_MATMUL = 13,
  LADE_BINARY_LOGICAL_AND = 14,
  LADE_BINARY_LOGICAL_OR = 15,
  LADE_BINARY_REMAINDER = 16,
  LADE_BINARY_FLOOR_DIVIDE = 17,
  LADE_BINARY_RSUB = 18,
  LADE_BINARY_RDIV = 19,
  LADE_BINARY_RPOW = 20
};

/** Reductions of lade_reduce. STD and VAR are unbiased. */
enum lade_op_reduce {
  LADE_REDUCE_SUM = 0,
  LADE_REDUCE_MEAN = 1,
  LADE_REDUCE_MAX = 2,
  LADE_REDUCE_MIN = 3,
  LADE_REDUCE_ARGMAX = 4,
  LADE_REDUCE_ARGMIN = 5,
  LADE_REDUCE_LOGSUMEXP = 6,
  LADE_REDUCE_PROD = 7,
  LADE_REDUCE_STD = 8,
  LADE_REDUCE_VAR = 9,
  LADE_REDUCE_ALL = 10,
  LADE_REDUCE_ANY = 11
};

/** Ops of lade_dim_op, along one dimension. */
enum lade_op_dim {
  LADE_DIM_SOFTMAX = 0,
  LADE_DIM_LOG_SOFTMAX = 1,
  LADE_DIM_CUMSUM = 2,
  LADE_DIM_SQUEEZE = 3,
  LADE_DIM_UNSQUEEZE = 4,
  LADE_DIM_ARGSORT_ASC = 5,
  LADE_DIM_ARGSORT_DESC = 6
};

/** Classifier heads of lade_model_new. */
enum lade_head { LADE_HEAD_LINEAR = 0, LADE_HEAD_COSINE = 1 };

/* ---- runtime: errors, versions, threads, devices, seeds, generators (runtime.cpp) ---- */

/// The message of this thread's last failed call ("" when none).
LADE_EXTERN const char* lade_last_error(void);

/// LADE_ABI_VERSION of the header this library was built from.
LADE_EXTERN int32_t lade_abi_version(void);

/// The libtorch version string this library was compiled against.
LADE_EXTERN const char* lade_torch_version(void);

/// Number of live tensor handles.
LADE_EXTERN int64_t lade_live_tensors(void);

/// 1 when CUDA is usable, else 0.
LADE_EXTERN int32_t lade_cuda_is_available(void);

/// Number of CUDA devices.
LADE_EXTERN int32_t lade_cuda_device_count(void);

/// Checks that a device (enum lade_device_type, index) exists: 0 when usable, -1 with the error
/// recorded.
LADE_EXTERN int32_t lade_device_check(int32_t type, int32_t index);

/// Waits for all queued work on a CUDA device (no-op on CPU).
LADE_EXTERN int32_t lade_device_synchronize(int32_t type, int32_t index);

/// Sets the intra-op thread count.
LADE_EXTERN int32_t lade_set_num_threads(int32_t n);

/// The intra-op thread count.
LADE_EXTERN int32_t lade_get_num_threads(void);

/// Seeds libtorch's global generators (CPU and CUDA).
LADE_EXTERN int32_t lade_manual_seed(uint64_t seed);

/// Sets grad mode for this thread; returns the previous mode (1 enabled).
LADE_EXTERN int32_t lade_set_grad_enabled(int32_t enabled);

/// A new CPU generator seeded with `seed` (an owned handle).
LADE_EXTERN lade_generator* lade_generator_new(uint64_t seed);

/// Frees a generator.
LADE_EXTERN void lade_generator_free(lade_generator* g);

/// The generator's state as a new uint8 tensor.
LADE_EXTERN lade_tensor* lade_generator_get_state(lade_generator* g);

/// Restores the generator's state from a uint8 tensor made by lade_generator_get_state.
LADE_EXTERN int32_t lade_generator_set_state(lade_generator* g, lade_tensor* state);

/// A new handle to libtorch's default CPU generator (shares its state; free with
/// lade_generator_free).
LADE_EXTERN lade_generator* lade_generator_default(void);

/* ---- tensors: creation, metadata, host copies, autograd (tensor.cpp) ---- */

/// Frees a handle (NULL is ignored).
LADE_EXTERN void lade_tensor_free(lade_tensor* t);

/// A new CPU tensor holding a copy of `nbytes` bytes at `data`, laid out C-contiguously.
LADE_EXTERN lade_tensor* lade_from_data(const void* data, int64_t nbytes, const int64_t* shape,
                                        int32_t ndim, int32_t dtype);

/// A tensor of `shape` filled with `value`.
LADE_EXTERN lade_tensor* lade_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype,
                                   int32_t device_type, int32_t device_index);

/// Values start, start+step, ... below end.
LADE_EXTERN lade_tensor* lade_arange(double start, double end, double step, int32_t dtype,
                                     int32_t device_type, int32_t device_index);

/// Random values (`kind`: enum lade_random_kind): uniform [0,1) or standard normal.
/// `gen` may be NULL (global generator).
LADE_EXTERN lade_tensor* lade_random(int32_t kind, const int64_t* shape, int32_t ndim,
                                     int32_t dtype, int32_t device_type, int32_t device_index,
                                     lade_generator* gen);

/// A random permutation of 0..n-1 (int64). `gen` may be NULL.
LADE_EXTERN lade_tensor* lade_randperm(int64_t n, int32_t device_type, int32_t device_index,
                                       lade_generator* gen);

/// Random integers in [low, high) (int64). `gen` may be NULL.
LADE_EXTERN lade_tensor* lade_randint(int64_t low, int64_t high, const int64_t* shape, int32_t ndim,
                                      int32_t device_type, int32_t device_index,
                                      lade_generator* gen);

/// Number of dimensions.
LADE_EXTERN int32_t lade_tensor_ndim(lade_tensor* t);

/// Writes the sizes into `out` (room for ndim values).
LADE_EXTERN int32_t lade_tensor_shape(lade_tensor* t, int64_t* out);

/// enum lade_dtype code (-1 on failure).
LADE_EXTERN int32_t lade_tensor_dtype(lade_tensor* t);

/// Device as type * 1000 + index (CPU = 0, cuda:1 = 1001); -1 on failure.
LADE_EXTERN int32_t lade_tensor_device(lade_tensor* t);

/// Copies the tensor's elements (C order) into `out`, which holds `nbytes` bytes.
LADE_EXTERN int32_t lade_tensor_copy_out(lade_tensor* t, void* out, int64_t nbytes);

/// The single value of a one-element tensor, as a double, into `*out`.
LADE_EXTERN int32_t lade_tensor_item(lade_tensor* t, double* out);

/// Another handle to the same tensor (shares storage and autograd identity).
LADE_EXTERN lade_tensor* lade_tensor_share(lade_tensor* t);

/// Marks a leaf tensor as requiring gradients (or not).
LADE_EXTERN int32_t lade_set_requires_grad(lade_tensor* t, int32_t flag);

/// 1 when the tensor requires gradients, 0 when not, -1 on failure.
LADE_EXTERN int32_t lade_requires_grad(lade_tensor* t);

/// Writes a new handle to the gradient into `*out`, or NULL when it has none.
LADE_EXTERN int32_t lade_grad(lade_tensor* t, lade_tensor** out);

/// Clears the gradient of a tensor.
LADE_EXTERN int32_t lade_zero_grad(lade_tensor* t);

/// Back-propagates from `t`; `grad` may be NULL for a scalar.
LADE_EXTERN int32_t lade_backward(lade_tensor* t, lade_tensor* grad, int32_t retain_graph);

/// Copies `src` into `dst` in place (shapes broadcast), without recording autograd history.
LADE_EXTERN int32_t lade_copy_(lade_tensor* dst, lade_tensor* src);

/* ---- ops (ops.cpp); op codes above ---- */

/// Elementwise op with one input (enum lade_op_unary).
LADE_EXTERN lade_tensor* lade_unary(int32_t op, lade_tensor* a);

/// Elementwise op of two tensors with broadcasting, or matmul (enum lade_op_binary).
LADE_EXTERN lade_tensor* lade_binary(int32_t op, lade_tensor* a, lade_tensor* b);

/// Elementwise op of a tensor and a scalar (enum lade_op_binary).
LADE_EXTERN lade_tensor* lade_binary_scalar(int32_t op, lade_tensor* a, double s);

/// Reduction over all elements (all_dims != 0) or over `dim` (enum lade_op_reduce).
LADE_EXTERN lade_tensor* lade_reduce(int32_t op, lade_tensor* a, int32_t dim, int32_t keepdim,
                                     int32_t all_dims);

/// An op along one dimension (enum lade_op_dim).
LADE_EXTERN lade_tensor* lade_dim_op(int32_t op, lade_tensor* a, int32_t dim);

/// Casts and/or moves: dtype -1 keeps the dtype, device_type -1 keeps the device.
LADE_EXTERN lade_tensor* lade_to(lade_tensor* a, int32_t dtype, int32_t device_type,
                                 int32_t device_index, int32_t non_blocking);

/// Clamps to [lo, hi]; has_lo / has_hi say which bounds apply.
LADE_EXTERN lade_tensor* lade_clamp(lade_tensor* a, double lo, int32_t has_lo, double hi,
                                    int32_t has_hi);

/// Elementwise choice: cond ? a : b (broadcasting).
LADE_EXTERN lade_tensor* lade_where(lade_tensor* cond, lade_tensor* a, lade_tensor* b);

/// Gathers values along `dim` at int64 `index`.
LADE_EXTERN lade_tensor* lade_gather(lade_tensor* a, int32_t dim, lade_tensor* index);

/// Adds `src` into a copy of `a` at `index` along `dim` (scatter_add).
LADE_EXTERN lade_tensor* lade_scatter_add(lade_tensor* a, int32_t dim, lade_tensor* index,
                                          lade_tensor* src);

/// Rows (or slices along `dim`) picked by an int64 index vector.
LADE_EXTERN lade_tensor* lade_index_select(lade_tensor* a, int32_t dim, lade_tensor* index);

/// The elements where the bool `mask` is true, as a 1-D tensor.
LADE_EXTERN lade_tensor* lade_masked_select(lade_tensor* a, lade_tensor* mask);

/// A copy of `a` with `value` where `mask` is true.
LADE_EXTERN lade_tensor* lade_masked_fill(lade_tensor* a, lade_tensor* mask, double value);

/// One-hot encoding of int64 labels into `classes` columns (int64).
LADE_EXTERN lade_tensor* lade_one_hot(lade_tensor* a, int32_t classes);

/// Counts of each non-negative int value, with at least `minlength` bins.
LADE_EXTERN lade_tensor* lade_bincount(lade_tensor* a, int32_t minlength);

/// The k largest (or smallest) values along `dim`; writes (values, indices) handles into out[0],
/// out[1].
LADE_EXTERN int32_t lade_topk(lade_tensor* a, int32_t k, int32_t dim, int32_t largest,
                              lade_tensor** out);

/// A view with a new shape (-1 infers one size).
LADE_EXTERN lade_tensor* lade_reshape(lade_tensor* a, const int64_t* shape, int32_t ndim);

/// Broadcasts to a larger shape (-1 keeps a size).
LADE_EXTERN lade_tensor* lade_expand(lade_tensor* a, const int64_t* shape, int32_t ndim);

/// Reorders the dimensions.
LADE_EXTERN lade_tensor* lade_permute(lade_tensor* a, const int64_t* dims, int32_t ndim);

/// Swaps two dimensions.
LADE_EXTERN lade_tensor* lade_transpose(lade_tensor* a, int32_t d0, int32_t d1);

/// Reverses the order along the given dimensions.
LADE_EXTERN lade_tensor* lade_flip(lade_tensor* a, const int64_t* dims, int32_t ndim);

/// `length` slices along `dim` from `start`.
LADE_EXTERN lade_tensor* lade_narrow(lade_tensor* a, int32_t dim, int64_t start, int64_t length);

/// Slices along `dim` from start to end (exclusive) with a step.
LADE_EXTERN lade_tensor* lade_slice(lade_tensor* a, int32_t dim, int64_t start, int64_t end,
                                    int64_t step);

/// The slice at `index` along `dim`, with that dimension removed.
LADE_EXTERN lade_tensor* lade_select(lade_tensor* a, int32_t dim, int64_t index);

/// Constant padding; `pads` lists (before, after) pairs from the last dimension backwards, as in
/// F.pad.
LADE_EXTERN lade_tensor* lade_pad(lade_tensor* a, const int64_t* pads, int32_t n, double value);

/// Joins tensors along an existing dimension.
LADE_EXTERN lade_tensor* lade_cat(lade_tensor* const* hs, int32_t n, int32_t dim);

/// Joins tensors along a new dimension.
LADE_EXTERN lade_tensor* lade_stack(lade_tensor* const* hs, int32_t n, int32_t dim);

/// Resamples images [N, C, H, W] through an affine map per image, `theta`
/// [N, 2, 3] in normalised coordinates (F.affine_grid, then F.grid_sample
/// with zeros outside the image): nearest-neighbour when `nearest` != 0,
/// else bilinear; `align_corners` as in PyTorch.
LADE_EXTERN lade_tensor* lade_affine_grid_sample(lade_tensor* input, lade_tensor* theta,
                                                 int32_t nearest, int32_t align_corners);

/* ---- images: decoding, encoding, header probing (data_image.cpp) ---- */

/// Decodes the JPEG or PNG file at `path` into a uint8 tensor [C, H, W]
/// (C = 1 for grey images, else 3), at full size. An image of more than
/// `max_pixels` pixels (> 0; 0: no limit) is refused before its pixels are
/// allocated; libjpeg's corrupt-data warnings are errors.
LADE_EXTERN lade_tensor* lade_image_read(const char* path, int64_t max_pixels);

/// Decodes a JPEG or PNG file as evaluation sees it: the shorter side resized
/// to `resize_to`, the centre `size` x `size` square, `channels` (1 or 3)
/// channels (colour turned grey by ITU-R 601 luma for 1). uint8 [C, S, S].
/// The pixel limit and corrupt data as lade_image_read.
LADE_EXTERN lade_tensor* lade_image_prepare(const char* path, int32_t size, int32_t resize_to,
                                            int32_t channels, int64_t max_pixels);

/// Writes a uint8 tensor [C, H, W] (C 1 or 3) as a PNG or JPEG file, chosen by
/// the extension of `path`; `quality` (1..100) applies to JPEG. Atomic.
LADE_EXTERN int32_t lade_image_write(lade_tensor* image, const char* path, int32_t quality);

/// Reads the headers of `n` image files (NUL-separated UTF-8 paths in `paths`,
/// `nbytes` bytes in all) on up to `threads` native threads. Writes width,
/// height and channels per file into `out` (n x 3), or 0, 0, 0 for a file that
/// is missing or not a readable JPEG/PNG header (or claims more than
/// `max_pixels` pixels, when > 0). Returns the number of bad files; the first
/// one's reason becomes the last error when there are any.
LADE_EXTERN int32_t lade_image_probe(const char* paths, int64_t nbytes, int32_t n, int32_t threads,
                                     int64_t max_pixels, int32_t* out);

/// Decodes each of `n` image files (paths as lade_image_probe) on up to
/// `threads` native threads, as a batch loader would (pixel limit and corrupt
/// data included; JPEGs at a reduced scale, which still reads all their data),
/// and keeps nothing. Returns a uint8 tensor holding `n` NUL-terminated UTF-8
/// messages in order: empty for an image that decodes, else why it does not.
LADE_EXTERN lade_tensor* lade_image_verify(const char* paths, int64_t nbytes, int32_t n,
                                           int32_t threads, int64_t max_pixels);

/// Colour jitter as the official LADE code ran it (torchvision's
/// ColorJitter(brightness, contrast, saturation, hue 0) on PIL images, i.e.
/// Pillow's ImageEnhance): the draws of sample (seed, epoch, position) for
/// `strength` (3 values: brightness, contrast, saturation; 0 turns one off):
/// factors[3] (1 for an adjustment turned off; else uniform in
/// [max(0, 1 - s), 1 + s]) and order[3], a random permutation of 0
/// (brightness), 1 (contrast), 2 (saturation). These are the draws
/// lade_data_loader_set_color_jitter's loader uses.
LADE_EXTERN int32_t lade_color_jitter_draw(uint64_t seed, int32_t epoch, int64_t position,
                                           const float* strength, float* factors, int32_t* order);

/// A new uint8 image [3, H, W]: `image` with the adjustments in `order` (a
/// permutation of 0 brightness, 1 contrast, 2 saturation) applied with
/// factors[3], each with Pillow's arithmetic (blend with black, with the grey
/// mean int(mean(L) + 0.5), with the greyscale L, in float32, truncated to
/// 0..255; L = (19595 R + 38470 G + 7471 B + 32768) >> 16).
LADE_EXTERN lade_tensor* lade_image_color_jitter(lade_tensor* image, const float* factors,
                                                 const int32_t* order);

/* ---- batch loaders (data_batch.cpp) ---- */

/// A loader over small images held in memory: `images` is a uint8 tensor
/// [N, C, S, S] (C 1 or 3; the loader keeps its own reference), `labels` N
/// class indices. `train` != 0 turns on augmentation: a random crop of the
/// image zero-padded by `pad` pixels, and a horizontal flip when `flip` != 0.
/// `mean`/`std` hold C per-channel values on the 0..1 scale. Batches land on
/// device (type, index). `seed` keys the augmentation draws; `workers` is the
/// number of native threads. Returns an owned handle (free with
/// lade_data_loader_free) or NULL.
LADE_EXTERN lade_data_loader* lade_data_loader_from_tensor(
    lade_tensor* images, const int32_t* labels, int64_t n, int32_t train, int32_t pad, int32_t flip,
    const float* mean, const float* stdv, int32_t device_type, int32_t device_index, uint64_t seed,
    int32_t workers);

/// A loader over uint8 images [N, C, S, S] that keeps them on the target
/// device and prepares each batch there, on the calling thread and stream,
/// when it is taken (no worker threads): gather, crop, flip and normalise as
/// a few tensor ops, with the same draws as lade_data_loader_from_tensor, so
/// the batches are the same. For data sets that fit in the device's memory.
LADE_EXTERN lade_data_loader* lade_data_loader_resident(lade_tensor* images, const int32_t* labels,
                                                        int64_t n, int32_t train, int32_t pad,
                                                        int32_t flip, const float* mean,
                                                        const float* std, int32_t device_type,
                                                        int32_t device_index, uint64_t seed);

/// A loader over image files: `paths` holds `n` NUL-separated UTF-8 paths
/// (`nbytes` bytes in all), `labels` n class indices. Each file is decoded
/// when its batch is prepared and yields 3 x `image_size` x `image_size`:
/// with `train` != 0 a random-resized crop (scale 0.08..1, ratio 3/4..4/3)
/// and a flip when `flip` != 0; otherwise the shorter side resized to
/// image_size * 256 / 224 and the centre crop. An image of more than
/// `max_pixels` pixels (> 0) fails its batch before its pixels are allocated.
/// Other arguments as lade_data_loader_from_tensor (mean/std hold 3 values;
/// `workers` 1 to 1024).
LADE_EXTERN lade_data_loader* lade_data_loader_from_list(
    const char* paths, int64_t nbytes, const int32_t* labels, int64_t n, int32_t image_size,
    int32_t train, int32_t flip, const float* mean, const float* stdv, int32_t device_type,
    int32_t device_index, uint64_t seed, int32_t workers, int64_t max_pixels);

/// Turns on colour jitter of an image-list loader's training batches, after the
/// crop and flip (torchvision's ColorJitter with hue 0, as
/// lade_color_jitter_draw and lade_image_color_jitter describe; all three 0
/// turns it off). Drops the batches queued so far.
LADE_EXTERN int32_t lade_data_loader_set_color_jitter(lade_data_loader* loader, float brightness,
                                                      float contrast, float saturation);

/// Sets the area scale range of an image-list loader's random-resized crops
/// (torchvision's RandomResizedCrop `scale`; default 0.08..1): each crop
/// covers between `low` and `high` of the image (0 < low <= high <= 1).
/// Drops the batches queued so far.
LADE_EXTERN int32_t lade_data_loader_set_crop_scale(lade_data_loader* loader, double low,
                                                    double high);

/// Queues batch number `seq` (unique until taken): the `n` sample indices in
/// `indices`, augmented with draws keyed by (seed, `epoch`, `position` + i)
/// for its i-th sample. Returns at once; workers prepare it in the background.
LADE_EXTERN int32_t lade_data_loader_submit(lade_data_loader* loader, int64_t seq,
                                            const int32_t* indices, int32_t n, int32_t epoch,
                                            int64_t position);

/// Blocks until batch `seq` is prepared (or has failed). Meant to be called
/// off the JavaScript thread (Deno `nonblocking`).
LADE_EXTERN int32_t lade_data_loader_wait(lade_data_loader* loader, int64_t seq);

/// Hands over batch `seq` (waiting for it if needed): out[0] float32 images
/// [B, C, S, S] normalised, out[1] int64 labels [B], both on the loader's
/// device. Returns -1 with the reason (e.g. an unreadable image) on failure.
LADE_EXTERN int32_t lade_data_loader_take(lade_data_loader* loader, int64_t seq, lade_tensor** out);

/// Drops every queued or unclaimed batch and waits for the workers to go idle.
LADE_EXTERN int32_t lade_data_loader_cancel(lade_data_loader* loader);

/// Stops the workers and frees the loader.
LADE_EXTERN void lade_data_loader_free(lade_data_loader* loader);

/* ---- models (model_api.cpp, model_*.cpp) ---- */

/// A new model on the CPU in train mode; parameters are drawn from libtorch's
/// global generator (seed it first). `head`: enum lade_head; `scale`
/// multiplies the cosine head's logits. `arch`: one of lade_model_architectures().
LADE_EXTERN lade_model* lade_model_new(const char* arch, int32_t classes, int32_t in_channels,
                                       int32_t head, double scale);

/// The architecture names lade_model_new accepts, comma-separated (static storage).
LADE_EXTERN const char* lade_model_architectures(void);

/// Frees a model handle.
LADE_EXTERN void lade_model_free(lade_model* m);

/// Moves the model's parameters and buffers to a device.
LADE_EXTERN int32_t lade_model_to(lade_model* m, int32_t device_type, int32_t device_index);

/// Train (1) or eval (0) mode: batch-norm statistics are updated in train mode
/// (a frozen part stays in eval mode; see lade_model_freeze).
LADE_EXTERN int32_t lade_model_set_train(lade_model* m, int32_t train);

/** The two parts of a model: the backbone (features) and the head (logits). */
enum lade_model_part { LADE_PART_BACKBONE = 0, LADE_PART_HEAD = 1 };

/// Freezes (1) or unfreezes (0) one part (enum lade_model_part): its
/// parameters stop requiring gradients (autograd does not compute them) and it
/// stays in eval mode in train mode, so its batch-norm statistics are kept.
LADE_EXTERN int32_t lade_model_freeze(lade_model* m, int32_t part, int32_t frozen);

/// The names of the model's parameters and buffers in state-dict order (as
/// PyTorch's Module.state_dict() walks modules: own parameters, own buffers,
/// then children), each followed by '\n' (`backbone.layer1.0.conv1.weight`,
/// `head.bias`). The text lives in the model until the next call; NULL on error.
LADE_EXTERN const char* lade_model_state_names(lade_model* m);

/// The tensors lade_model_state_names() names, in the same order, in place
/// (detached handles that share the model's storage: copying into one sets the
/// weight). Writes min(count, capacity) new handles into `out` and returns the
/// count (capacity 0 counts), or -1 on error.
LADE_EXTERN int32_t lade_model_state_tensors(lade_model* m, lade_tensor** out, int32_t capacity);

/// The precision the network runs in on CUDA: LADE_FLOAT32, or LADE_BFLOAT16
/// (bf16 autocast; the features and logits it returns are float32). On the
/// CPU the network always runs in float32; bf16 needs a CUDA build.
LADE_EXTERN int32_t lade_model_set_precision(lade_model* m, int32_t dtype);

/// Number of parameter elements (-1 on error).
LADE_EXTERN int64_t lade_model_num_params(lade_model* m);

/// Length of the feature vector before the head (-1 on error).
LADE_EXTERN int32_t lade_model_feature_dim(lade_model* m);

/// Logits [N, classes] of images [N, C, S, S] (on the model's device).
LADE_EXTERN lade_tensor* lade_model_forward(lade_model* m, lade_tensor* x);

/// Features [N, D] into out[0] and logits [N, classes] into out[1] (two new handles).
LADE_EXTERN int32_t lade_model_forward_features(lade_model* m, lade_tensor* x, lade_tensor** out);

/// All parameters (and, when `buffers` is 1, the floating-point buffers such as
/// batch-norm statistics) flattened into one detached float32 CPU vector.
LADE_EXTERN lade_tensor* lade_model_state_vector(lade_model* m, int32_t buffers);

/// The model's own tensors, in place (detached handles that share their storage: an in-place
/// write such as a broadcast changes the model): its parameters when `which` & 1, then its
/// buffers (batch-norm statistics and counters) when `which` & 2, in registration order.
/// Writes min(count, capacity) new handles into `out` and returns the count (capacity 0
/// counts), or -1 on error.
LADE_EXTERN int32_t lade_model_tensors(lade_model* m, int32_t which, lade_tensor** out,
                                       int32_t capacity);

/// The parameters and buffers as the bytes of a libtorch archive (a uint8 CPU
/// tensor), for the caller to write: file errors then stay out of libtorch.
LADE_EXTERN lade_tensor* lade_model_serialize(lade_model* m);

/// Reads parameters and buffers from archive bytes made by
/// lade_model_serialize (`size` bytes at `data`) into the model (same
/// architecture), onto the model's device.
LADE_EXTERN int32_t lade_model_deserialize(lade_model* m, const uint8_t* data, int64_t size);

/* ---- optimiser (optim.cpp) ---- */

/// A new SGD optimiser over all parameters of `model` (create it after the
/// model has been moved to its device).
LADE_EXTERN lade_sgd* lade_sgd_new(lade_model* model, double lr, double momentum,
                                   double weight_decay, int32_t nesterov);

/// Frees an optimiser handle.
LADE_EXTERN void lade_sgd_free(lade_sgd* o);

/// Sets the learning rate of every parameter group (written to a tensor on the
/// parameters' device, which a captured step reads at every replay).
LADE_EXTERN int32_t lade_sgd_set_lr(lade_sgd* o, double lr);

/// Sets the learning rate of one parameter group (enum lade_model_part: the
/// backbone's or the head's parameters).
LADE_EXTERN int32_t lade_sgd_set_group_lr(lade_sgd* o, int32_t part, double lr);

/// Leaves a parameter group out of the step (1) or puts it back (0): a frozen
/// group gets no weight decay, no momentum and no update.
LADE_EXTERN int32_t lade_sgd_set_frozen(lade_sgd* o, int32_t part, int32_t frozen);

/// Clears the gradients of the optimised parameters.
LADE_EXTERN int32_t lade_sgd_zero_grad(lade_sgd* o);

/// One update with the accumulated gradients.
LADE_EXTERN int32_t lade_sgd_step(lade_sgd* o);

/// The optimiser state (momentum buffers) as the bytes of a libtorch archive
/// (a uint8 CPU tensor).
LADE_EXTERN lade_tensor* lade_sgd_serialize(lade_sgd* o);

/// Restores a state from archive bytes made by lade_sgd_serialize (an
/// optimiser over the same model), or written by lade before the flat buffers
/// (torch::optim::SGD's archive).
LADE_EXTERN int32_t lade_sgd_deserialize(lade_sgd* o, const uint8_t* data, int64_t size);

/// The flat gradient buffer (float32 [P]) whose views are the parameters'
/// gradients: all-reduce it in place for data-parallel training.
LADE_EXTERN lade_tensor* lade_sgd_flat_grad(lade_sgd* o);

/* ---- CUDA: build facts, devices, streams, graphs (cuda.cpp) ---- */

/// The build as JSON (static storage): libtorch version, whether it has CUDA,
/// its CUDA architectures when known, and the distributed backends.
LADE_EXTERN const char* lade_build_info(void);

/// One CUDA device as JSON (name, capability, multiprocessors, memory in
/// bytes); NULL with the error set when there is no such device.
LADE_EXTERN const char* lade_cuda_device_info(int32_t index);

/// Memory of a CUDA device in bytes into out[0..3]: allocated by tensors now,
/// the peak of that, reserved by libtorch's caching allocator, free on the device.
LADE_EXTERN int32_t lade_cuda_memory_stats(int32_t index, int64_t* out);

/// on = 1: this thread's work on the CUDA device goes to a dedicated stream
/// (needed to capture CUDA graphs); on = 0: back to the default stream, after
/// the dedicated one has finished.
LADE_EXTERN int32_t lade_cuda_use_side_stream(int32_t index, int32_t on);

/// cuDNN's autotuner for convolution algorithms (for fixed input shapes).
LADE_EXTERN int32_t lade_set_cudnn_benchmark(int32_t on);

/// A new, empty CUDA graph (fails without a CUDA build).
LADE_EXTERN lade_graph* lade_graph_new(void);

/// Starts capturing the work this thread queues on its current stream (not the
/// default stream: see lade_cuda_use_side_stream). Nothing runs until replay.
LADE_EXTERN int32_t lade_graph_capture_begin(lade_graph* g);

/// Ends the capture and instantiates the graph.
LADE_EXTERN int32_t lade_graph_capture_end(lade_graph* g);

/// Ends a capture that failed half-way and discards it, so the stream works again.
LADE_EXTERN int32_t lade_graph_capture_abort(lade_graph* g);

/// Replays the captured work on the stream it was captured on.
LADE_EXTERN int32_t lade_graph_replay(lade_graph* g);

/// Frees a graph.
LADE_EXTERN void lade_graph_free(lade_graph* g);

/* ---- process groups (dist.cpp) ---- */

/** Collective backends of lade_dist_new; lade_dist_backends() returns 1 << code per backend. */
enum lade_dist_backend { LADE_DIST_GLOO = 0, LADE_DIST_NCCL = 1 };

/** Reductions of lade_dist_all_reduce. */
enum lade_dist_reduce { LADE_DIST_SUM = 0, LADE_DIST_AVG = 1 };

/// The backends this build can create, a bit mask: 1 << LADE_DIST_GLOO, 1 << LADE_DIST_NCCL.
LADE_EXTERN int32_t lade_dist_backends(void);

/// Joins a process group of `world_size` ranks as `rank`. Rank 0 hosts the
/// TCPStore rendezvous on `master_port` (all interfaces); the others connect
/// to `master_addr`:`master_port`. `timeout_ms` bounds the rendezvous and
/// every collective. `device_index`: the CUDA device of an NCCL rank (-1:
/// the current one); ignored by Gloo. Blocks until every rank has joined.
LADE_EXTERN lade_process_group* lade_dist_new(int32_t backend, int32_t rank, int32_t world_size,
                                              const char* master_addr, int32_t master_port,
                                              int64_t timeout_ms, int32_t device_index);

/// Leaves the process group and frees the handle.
LADE_EXTERN void lade_dist_free(lade_process_group* pg);

/// All-reduces a flat (1-D, contiguous) tensor in place, in buckets of at most
/// `bucket_bytes` (<= 0: one bucket): every bucket is launched, then all are
/// waited for, so their transfers overlap. `op`: enum lade_dist_reduce.
LADE_EXTERN int32_t lade_dist_all_reduce(lade_process_group* pg, lade_tensor* flat, int32_t op,
                                         int64_t bucket_bytes);

/// Every rank's `t` concatenated along dim 0 in rank order, with autograd:
/// the gradient of the result flows back to this rank's rows only. `sizes`:
/// the world_size dim-0 sizes when they differ between ranks (NULL: all equal
/// to this rank's).
LADE_EXTERN lade_tensor* lade_dist_all_gather(lade_process_group* pg, lade_tensor* t,
                                              const int64_t* sizes);

/// Overwrites `n` tensors on every rank with rank `root`'s values (in place,
/// without autograd).
LADE_EXTERN int32_t lade_dist_broadcast(lade_process_group* pg, lade_tensor* const* handles,
                                        int32_t n, int32_t root);

/// Returns when every rank has reached it (or fails after the timeout).
LADE_EXTERN int32_t lade_dist_barrier(lade_process_group* pg);

#endif /* LADE_H */
