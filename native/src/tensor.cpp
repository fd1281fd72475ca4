// Tensor handles: creation from host memory and factories, metadata, host
// copies, lifetime and autograd entry points.
#include <cstring>

#include "common.h"

using namespace lade;

namespace {

torch::TensorOptions options(int32_t dtype, int32_t device_type, int32_t device_index) {
  return torch::TensorOptions()
      .dtype(to_scalar_type(dtype))
      .device(to_device(device_type, device_index));
}

/// The generator to draw from: `gen`'s, or libtorch's global one when NULL.
c10::optional<at::Generator> generator(lade_generator* gen) {
  return gen ? c10::optional<at::Generator>(gen->value) : c10::nullopt;
}

}  // namespace

LADE_EXTERN void lade_tensor_free(lade_tensor* t) {
  if (!t) return;
  live_tensors.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}

LADE_EXTERN lade_tensor* lade_from_data(const void* data, int64_t nbytes, const int64_t* shape,
                                        int32_t ndim, int32_t dtype) {
  return guard_tensor([&] {
    auto out =
        torch::empty(to_vec(shape, ndim), torch::TensorOptions().dtype(to_scalar_type(dtype)));
    const auto need = static_cast<int64_t>(out.numel() * out.element_size());
    if (need != nbytes) {
      throw std::invalid_argument("data holds " + std::to_string(nbytes) + " bytes but shape " +
                                  c10::str(out.sizes()) + " needs " + std::to_string(need));
    }
    if (need > 0) std::memcpy(out.data_ptr(), data, static_cast<size_t>(need));
    return out;
  });
}

LADE_EXTERN lade_tensor* lade_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype,
                                   int32_t device_type, int32_t device_index) {
  return guard_tensor([&] {
    return torch::full(to_vec(shape, ndim), value, options(dtype, device_type, device_index));
  });
}

LADE_EXTERN lade_tensor* lade_arange(double start, double end, double step, int32_t dtype,
                                     int32_t device_type, int32_t device_index) {
  return guard_tensor(
      [&] { return torch::arange(start, end, step, options(dtype, device_type, device_index)); });
}

LADE_EXTERN lade_tensor* lade_random(int32_t kind, const int64_t* shape, int32_t ndim,
                                     int32_t dtype, int32_t device_type, int32_t device_index,
                                     lade_generator* gen) {
  return guard_tensor([&] {
    const auto dev = to_device(device_type, device_index);
    // Draw on the CPU when a CPU generator is given so results do not depend on the device.
    const auto cpu = torch::TensorOptions().dtype(to_scalar_type(dtype));
    const auto g = generator(gen);
    const auto where = gen ? cpu : cpu.device(dev);
    switch (kind) {
      case LADE_RANDOM_UNIFORM: return torch::rand(to_vec(shape, ndim), g, where).to(dev);
      case LADE_RANDOM_NORMAL: return torch::randn(to_vec(shape, ndim), g, where).to(dev);
    }
    throw std::invalid_argument("unknown random kind " + std::to_string(kind));
  });
}

LADE_EXTERN lade_tensor* lade_randperm(int64_t n, int32_t device_type, int32_t device_index,
                                       lade_generator* gen) {
  return guard_tensor([&] {
    const auto g = generator(gen);
    auto out = torch::randperm(n, g, torch::TensorOptions().dtype(torch::kInt64));
    return out.to(to_device(device_type, device_index));
  });
}

LADE_EXTERN lade_tensor* lade_randint(int64_t low, int64_t high, const int64_t* shape, int32_t ndim,
                                      int32_t device_type, int32_t device_index,
                                      lade_generator* gen) {
  return guard_tensor([&] {
    const auto g = generator(gen);
    auto out = torch::randint(low, high, to_vec(shape, ndim), g,
                              torch::TensorOptions().dtype(torch::kInt64));
    return out.to(to_device(device_type, device_index));
  });
}

LADE_EXTERN int32_t lade_tensor_ndim(lade_tensor* t) {
  return guard_value<int32_t>(-1, [&] { return T(t).dim(); });
}

LADE_EXTERN int32_t lade_tensor_shape(lade_tensor* t, int64_t* out) {
  return guard_status([&] {
    const auto s = T(t).sizes();
    std::copy(s.begin(), s.end(), out);
  });
}

LADE_EXTERN int32_t lade_tensor_dtype(lade_tensor* t) {
  return guard_value<int32_t>(-1, [&] { return from_scalar_type(T(t).scalar_type()); });
}

LADE_EXTERN int32_t lade_tensor_device(lade_tensor* t) {
  return guard_value<int32_t>(-1, [&] {
    const auto d = T(t).device();
    if (d.is_cpu()) return 0;
    if (d.is_cuda()) return 1000 + std::max<int32_t>(0, d.index());
    throw std::runtime_error("unsupported device " + d.str());
  });
}

LADE_EXTERN int32_t lade_tensor_copy_out(lade_tensor* t, void* out, int64_t nbytes) {
  return guard_status([&] {
    auto host = T(t).detach().to(torch::kCPU).contiguous();
    const auto need = static_cast<int64_t>(host.numel() * host.element_size());
    if (need != nbytes) {
      throw std::invalid_argument("buffer of " + std::to_string(nbytes) +
                                  " bytes for a tensor of " + std::to_string(need));
    }
    if (need > 0) std::memcpy(out, host.data_ptr(), static_cast<size_t>(need));
  });
}

LADE_EXTERN int32_t lade_tensor_item(lade_tensor* t, double* out) {
  return guard_status([&] { *out = T(t).item<double>(); });
}

LADE_EXTERN lade_tensor* lade_tensor_share(lade_tensor* t) {
  return guard_tensor([&] { return T(t); });
}

LADE_EXTERN int32_t lade_set_requires_grad(lade_tensor* t, int32_t flag) {
  return guard_status([&] { T(t).set_requires_grad(flag != 0); });
}

LADE_EXTERN int32_t lade_requires_grad(lade_tensor* t) {
  return guard_value<int32_t>(-1, [&] { return T(t).requires_grad() ? 1 : 0; });
}

LADE_EXTERN int32_t lade_grad(lade_tensor* t, lade_tensor** out) {
  return guard_status([&] {
    const auto& g = T(t).grad();
    *out = g.defined() ? wrap(g) : nullptr;
  });
}

LADE_EXTERN int32_t lade_zero_grad(lade_tensor* t) {
  return guard_status([&] { T(t).mutable_grad() = torch::Tensor(); });
}

LADE_EXTERN int32_t lade_backward(lade_tensor* t, lade_tensor* grad, int32_t retain_graph) {
  return guard_status([&] {
    T(t).backward(grad ? T(grad) : torch::Tensor(),
                  retain_graph != 0 ? c10::optional<bool>(true) : c10::nullopt);
  });
}

LADE_EXTERN int32_t lade_copy_(lade_tensor* dst, lade_tensor* src) {
  return guard_status([&] {
    torch::NoGradGuard no_grad;
    T(dst).copy_(T(src));
  });
}
