// Tensor handles: creation from host memory and factories, metadata, host
// copies, lifetime and autograd entry points.
#include <cstring>

#include "common.h"

using namespace lade;

namespace {

torch::TensorOptions options(int32_t dtype, int32_t device_type, int32_t device_index) {
  return torch::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(device_type, device_index));
}

at::Generator* gen_or_null(void* g) { return static_cast<at::Generator*>(g); }

}  // namespace

/// Frees a handle (NULL is ignored).
LADE_EXTERN void lade_tensor_free(torch::Tensor* t) {
  if (!t) return;
  live_tensors.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}

/// A new CPU tensor holding a copy of `nbytes` bytes at `data`, laid out C-contiguously.
LADE_EXTERN torch::Tensor* lade_from_data(const void* data, int64_t nbytes, const int64_t* shape, int32_t ndim,
                                          int32_t dtype) {
  return guard_tensor([&] {
    auto out = torch::empty(to_vec(shape, ndim), torch::TensorOptions().dtype(to_scalar_type(dtype)));
    const auto need = static_cast<int64_t>(out.numel() * out.element_size());
    if (need != nbytes) {
      throw std::invalid_argument("data holds " + std::to_string(nbytes) + " bytes but shape " +
                                  c10::str(out.sizes()) + " needs " + std::to_string(need));
    }
    if (need > 0) std::memcpy(out.data_ptr(), data, static_cast<size_t>(need));
    return out;
  });
}

/// A tensor of `shape` filled with `value`.
LADE_EXTERN torch::Tensor* lade_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype,
                                     int32_t device_type, int32_t device_index) {
  return guard_tensor([&] {
    return torch::full(to_vec(shape, ndim), value, options(dtype, device_type, device_index));
  });
}

/// Values start, start+step, ... below end.
LADE_EXTERN torch::Tensor* lade_arange(double start, double end, double step, int32_t dtype, int32_t device_type,
                                       int32_t device_index) {
  return guard_tensor([&] { return torch::arange(start, end, step, options(dtype, device_type, device_index)); });
}

/// Random values: kind 0 = uniform [0,1), 1 = standard normal. `gen` may be NULL (global generator).
LADE_EXTERN torch::Tensor* lade_random(int32_t kind, const int64_t* shape, int32_t ndim, int32_t dtype,
                                       int32_t device_type, int32_t device_index, void* gen) {
  return guard_tensor([&] {
    const auto dev = to_device(device_type, device_index);
    // Draw on the CPU when a CPU generator is given so results do not depend on the device.
    const auto cpu = torch::TensorOptions().dtype(to_scalar_type(dtype));
    c10::optional<at::Generator> g;
    if (gen) g = *gen_or_null(gen);
    auto out = kind == 0 ? torch::rand(to_vec(shape, ndim), g, gen ? cpu : cpu.device(dev))
                         : torch::randn(to_vec(shape, ndim), g, gen ? cpu : cpu.device(dev));
    return out.to(dev);
  });
}

/// A random permutation of 0..n-1 (int64). `gen` may be NULL.
LADE_EXTERN torch::Tensor* lade_randperm(int64_t n, int32_t device_type, int32_t device_index, void* gen) {
  return guard_tensor([&] {
    c10::optional<at::Generator> g;
    if (gen) g = *gen_or_null(gen);
    auto out = torch::randperm(n, g, torch::TensorOptions().dtype(torch::kInt64));
    return out.to(to_device(device_type, device_index));
  });
}

/// Random integers in [low, high) (int64). `gen` may be NULL.
LADE_EXTERN torch::Tensor* lade_randint(int64_t low, int64_t high, const int64_t* shape, int32_t ndim,
                                        int32_t device_type, int32_t device_index, void* gen) {
  return guard_tensor([&] {
    c10::optional<at::Generator> g;
    if (gen) g = *gen_or_null(gen);
    auto out = torch::randint(low, high, to_vec(shape, ndim), g, torch::TensorOptions().dtype(torch::kInt64));
    return out.to(to_device(device_type, device_index));
  });
}

/// Number of dimensions.
LADE_EXTERN int32_t lade_tensor_ndim(torch::Tensor* t) { return guard_value<int32_t>(-1, [&] { return T(t).dim(); }); }

/// Writes the sizes into `out` (room for ndim values).
LADE_EXTERN int32_t lade_tensor_shape(torch::Tensor* t, int64_t* out) {
  return guard_status([&] {
    const auto s = T(t).sizes();
    std::copy(s.begin(), s.end(), out);
  });
}

/// dtype code (-1 on failure).
LADE_EXTERN int32_t lade_tensor_dtype(torch::Tensor* t) {
  return guard_value<int32_t>(-1, [&] { return from_scalar_type(T(t).scalar_type()); });
}

/// Device as type * 1000 + index (CPU = 0, cuda:1 = 1001); -1 on failure.
LADE_EXTERN int32_t lade_tensor_device(torch::Tensor* t) {
  return guard_value<int32_t>(-1, [&] {
    const auto d = T(t).device();
    if (d.is_cpu()) return 0;
    if (d.is_cuda()) return 1000 + std::max<int32_t>(0, d.index());
    throw std::runtime_error("unsupported device " + d.str());
  });
}

/// Number of elements (-1 on failure).
LADE_EXTERN int64_t lade_tensor_numel(torch::Tensor* t) { return guard_value<int64_t>(-1, [&] { return T(t).numel(); }); }

/// Copies the tensor's elements (C order) into `out`, which holds `nbytes` bytes.
LADE_EXTERN int32_t lade_tensor_copy_out(torch::Tensor* t, void* out, int64_t nbytes) {
  return guard_status([&] {
    auto host = T(t).detach().to(torch::kCPU).contiguous();
    const auto need = static_cast<int64_t>(host.numel() * host.element_size());
    if (need != nbytes) {
      throw std::invalid_argument("buffer of " + std::to_string(nbytes) + " bytes for a tensor of " +
                                  std::to_string(need));
    }
    if (need > 0) std::memcpy(out, host.data_ptr(), static_cast<size_t>(need));
  });
}

/// The single value of a one-element tensor, as a double, into `*out`.
LADE_EXTERN int32_t lade_tensor_item(torch::Tensor* t, double* out) {
  return guard_status([&] { *out = T(t).item<double>(); });
}

/// Another handle to the same tensor (shares storage and autograd identity).
LADE_EXTERN torch::Tensor* lade_tensor_share(torch::Tensor* t) { return guard_tensor([&] { return T(t); }); }

/// Marks a leaf tensor as requiring gradients (or not).
LADE_EXTERN int32_t lade_set_requires_grad(torch::Tensor* t, int32_t flag) {
  return guard_status([&] { T(t).set_requires_grad(flag != 0); });
}

/// 1 when the tensor requires gradients, 0 when not, -1 on failure.
LADE_EXTERN int32_t lade_requires_grad(torch::Tensor* t) {
  return guard_value<int32_t>(-1, [&] { return T(t).requires_grad() ? 1 : 0; });
}

/// Writes a new handle to the gradient into `*out`, or NULL when it has none.
LADE_EXTERN int32_t lade_grad(torch::Tensor* t, torch::Tensor** out) {
  return guard_status([&] {
    const auto& g = T(t).grad();
    *out = g.defined() ? wrap(g) : nullptr;
  });
}

/// Clears the gradient of a tensor.
LADE_EXTERN int32_t lade_zero_grad(torch::Tensor* t) {
  return guard_status([&] { T(t).mutable_grad() = torch::Tensor(); });
}

/// Back-propagates from `t`; `grad` may be NULL for a scalar.
LADE_EXTERN int32_t lade_backward(torch::Tensor* t, torch::Tensor* grad, int32_t retain_graph) {
  return guard_status([&] {
    T(t).backward(grad ? T(grad) : torch::Tensor(), retain_graph != 0 ? c10::optional<bool>(true) : c10::nullopt);
  });
}

/// Copies `src` into `dst` in place (shapes broadcast), without recording autograd history.
LADE_EXTERN int32_t lade_copy_(torch::Tensor* dst, torch::Tensor* src) {
  return guard_status([&] {
    torch::NoGradGuard no_grad;
    T(dst).copy_(T(src));
  });
}
