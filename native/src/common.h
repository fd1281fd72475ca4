// Shared helpers for every translation unit of the C ABI: error recording,
// handle wrapping and the exception guards that keep C++ exceptions from
// crossing into Deno.
#pragma once
#include <torch/torch.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "lade.h"

// The opaque handle types of lade.h, completed here. A handle owns its value.
struct lade_tensor {
  torch::Tensor value;
};
struct lade_generator {
  at::Generator value;
};

namespace lade {

using Handle = lade_tensor*;

/// Number of tensor handles created and not yet freed (the leak check).
extern std::atomic<int64_t> live_tensors;

/// Records `message` as this thread's last error.
void set_error(std::string message);

/// Records the exception that is being handled as this thread's last error.
void record_current_exception();

/// Moves a tensor onto the heap as a new owned handle.
inline Handle wrap(torch::Tensor t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new lade_tensor{std::move(t)};
}

/// Runs `f` (returning a torch::Tensor) and returns a new handle, or nullptr
/// with the error recorded.
template <class F>
Handle guard_tensor(F&& f) noexcept {
  try {
    return wrap(f());
  } catch (...) {
    record_current_exception();
    return nullptr;
  }
}

/// Runs `f` (returning nothing) and returns 0, or -1 with the error recorded.
template <class F>
int32_t guard_status(F&& f) noexcept {
  try {
    f();
    return 0;
  } catch (...) {
    record_current_exception();
    return -1;
  }
}

/// Runs `f` and returns its value, or `on_error` with the error recorded.
template <class R, class F>
R guard_value(R on_error, F&& f) noexcept {
  try {
    return f();
  } catch (...) {
    record_current_exception();
    return on_error;
  }
}

/// Converts lade's dtype code to a torch scalar type (throws on an unknown code).
c10::ScalarType to_scalar_type(int32_t code);
/// Converts a torch scalar type to lade's dtype code (throws when unsupported).
int32_t from_scalar_type(c10::ScalarType t);
/// Builds a device from (type, index): type 0 = CPU, 1 = CUDA; index -1 = current.
torch::Device to_device(int32_t type, int32_t index);
/// Reads a shape or list of dims from a C array.
inline std::vector<int64_t> to_vec(const int64_t* data, int32_t n) {
  return n > 0 ? std::vector<int64_t>(data, data + n) : std::vector<int64_t>{};
}
/// Dereferences a handle, throwing a clear error on NULL.
inline torch::Tensor& T(Handle h) {
  if (!h) throw std::invalid_argument("null tensor handle");
  return h->value;
}
/// Dereferences a generator handle, throwing a clear error on NULL.
inline at::Generator& G(lade_generator* g) {
  if (!g) throw std::invalid_argument("null generator handle");
  return g->value;
}

/// The bytes of a libtorch archive (what OutputArchive::save_to(path) would
/// write) as a uint8 CPU tensor. Serialising to memory keeps file errors (a
/// full disk) out of libtorch's writer, whose destructor would throw them.
inline torch::Tensor archive_bytes(torch::serialize::OutputArchive& archive) {
  std::string buffer;
  archive.save_to([&buffer](const void* data, size_t size) -> size_t {
    buffer.append(static_cast<const char*>(data), size);
    return size;
  });
  auto bytes = torch::empty({static_cast<int64_t>(buffer.size())}, torch::kUInt8);
  if (!buffer.empty()) std::memcpy(bytes.data_ptr<uint8_t>(), buffer.data(), buffer.size());
  return bytes;
}

/// Reads an archive from `size` bytes at `data` (as written by archive_bytes).
inline void load_archive(torch::serialize::InputArchive& archive, const uint8_t* data, int64_t size,
                         const torch::Device& device) {
  if (!data || size <= 0) throw std::invalid_argument("empty archive");
  archive.load_from(reinterpret_cast<const char*>(data), static_cast<size_t>(size), device);
}

}  // namespace lade
