/*
 * lade.h — the C ABI over libtorch used by lade's Deno FFI binding.
 *
 * Conventions:
 *  - A tensor handle is an owned heap `torch::Tensor*`, freed by lade_tensor_free.
 *  - Functions returning a handle return NULL on failure; functions returning
 *    int32_t return 0 on success and -1 on failure. After a failure,
 *    lade_last_error() returns the message (thread-local).
 *  - No C++ exception ever crosses this boundary.
 *  - dtype codes: see enum lade_dtype. Device: (type, index), type 0 = CPU, 1 = CUDA.
 */
#ifndef LADE_H
#define LADE_H
#include <stdint.h>

#ifdef __cplusplus
#define LADE_EXTERN extern "C" __attribute__((visibility("default")))
#else
#define LADE_EXTERN __attribute__((visibility("default")))
#endif

enum lade_dtype {
  LADE_FLOAT32 = 0, LADE_FLOAT64 = 1, LADE_INT64 = 2, LADE_INT32 = 3,
  LADE_UINT8 = 4, LADE_BOOL = 5, LADE_FLOAT16 = 6, LADE_BFLOAT16 = 7,
  LADE_INT16 = 8, LADE_INT8 = 9
};

#endif
