// Runtime: errors, versions, threads, devices, seeds and generators.
#include <torch/version.h>

#include <ATen/CPUGeneratorImpl.h>

#include "common.h"

namespace lade {

std::atomic<int64_t> live_tensors{0};
static thread_local std::string last_error;

void set_error(std::string message) { last_error = std::move(message); }

void record_current_exception() {
  try {
    throw;
  } catch (const c10::Error& e) {
    // libtorch's own message without the C++ backtrace it appends.
    set_error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown native error");
  }
}

c10::ScalarType to_scalar_type(int32_t code) {
  switch (code) {
    case LADE_FLOAT32: return torch::kFloat32;
    case LADE_FLOAT64: return torch::kFloat64;
    case LADE_INT64: return torch::kInt64;
    case LADE_INT32: return torch::kInt32;
    case LADE_UINT8: return torch::kUInt8;
    case LADE_BOOL: return torch::kBool;
    case LADE_FLOAT16: return torch::kFloat16;
    case LADE_BFLOAT16: return torch::kBFloat16;
    case LADE_INT16: return torch::kInt16;
    case LADE_INT8: return torch::kInt8;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int32_t from_scalar_type(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return LADE_FLOAT32;
    case torch::kFloat64: return LADE_FLOAT64;
    case torch::kInt64: return LADE_INT64;
    case torch::kInt32: return LADE_INT32;
    case torch::kUInt8: return LADE_UINT8;
    case torch::kBool: return LADE_BOOL;
    case torch::kFloat16: return LADE_FLOAT16;
    case torch::kBFloat16: return LADE_BFLOAT16;
    case torch::kInt16: return LADE_INT16;
    case torch::kInt8: return LADE_INT8;
    default: break;
  }
  throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
}

torch::Device to_device(int32_t type, int32_t index) {
  switch (type) {
    case LADE_DEVICE_CPU: return torch::Device(torch::kCPU);
    case LADE_DEVICE_CUDA: {
      if (!torch::cuda::is_available()) {
        throw std::runtime_error("CUDA is not available in this libtorch build or on this machine");
      }
      const auto count = static_cast<int32_t>(torch::cuda::device_count());
      if (index >= count) {
        throw std::runtime_error("cuda:" + std::to_string(index) + " does not exist (" +
                                 std::to_string(count) + " CUDA device(s))");
      }
      return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
    }
  }
  throw std::invalid_argument("unknown device type " + std::to_string(type));
}

}  // namespace lade

using namespace lade;

LADE_EXTERN const char* lade_last_error() { return last_error.c_str(); }

LADE_EXTERN int32_t lade_abi_version() { return LADE_ABI_VERSION; }

LADE_EXTERN const char* lade_torch_version() {
  return guard_value<const char*>("", [] {
    static const std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." +
                                 std::to_string(TORCH_VERSION_MINOR) + "." +
                                 std::to_string(TORCH_VERSION_PATCH);
    return v.c_str();
  });
}

LADE_EXTERN int64_t lade_live_tensors() { return live_tensors.load(); }

LADE_EXTERN int32_t lade_cuda_is_available() {
  return guard_value<int32_t>(0, [] { return torch::cuda::is_available() ? 1 : 0; });
}

LADE_EXTERN int32_t lade_cuda_device_count() {
  return guard_value<int32_t>(0, [] { return static_cast<int32_t>(torch::cuda::device_count()); });
}

LADE_EXTERN int32_t lade_device_check(int32_t type, int32_t index) {
  return guard_status([&] { (void)to_device(type, index); });
}

LADE_EXTERN int32_t lade_device_synchronize(int32_t type, int32_t index) {
  return guard_status([&] {
    if (type == LADE_DEVICE_CUDA) {
      // A tiny host copy forces a device synchronisation without CUDA headers.
      (void)torch::zeros({1}, torch::TensorOptions().device(to_device(type, index))).cpu();
    }
  });
}

LADE_EXTERN int32_t lade_set_num_threads(int32_t n) {
  return guard_status([&] {
    // Thousands of OpenMP threads take minutes to start and then wait on each other.
    if (n < 1 || n > 4096) {
      throw std::invalid_argument("thread count " + std::to_string(n) + " outside 1..4096");
    }
    torch::set_num_threads(n);
  });
}

LADE_EXTERN int32_t lade_get_num_threads() { return torch::get_num_threads(); }

LADE_EXTERN int32_t lade_manual_seed(uint64_t seed) {
  return guard_status([&] { torch::manual_seed(seed); });
}

LADE_EXTERN int32_t lade_set_grad_enabled(int32_t enabled) {
  const bool prev = torch::GradMode::is_enabled();
  torch::GradMode::set_enabled(enabled != 0);
  return prev ? 1 : 0;
}

LADE_EXTERN lade_generator* lade_generator_new(uint64_t seed) {
  return guard_value<lade_generator*>(
      nullptr, [&] { return new lade_generator{at::make_generator<at::CPUGeneratorImpl>(seed)}; });
}

LADE_EXTERN void lade_generator_free(lade_generator* g) { delete g; }

LADE_EXTERN lade_tensor* lade_generator_get_state(lade_generator* g) {
  return guard_tensor([&] { return G(g).get_state(); });
}

LADE_EXTERN int32_t lade_generator_set_state(lade_generator* g, lade_tensor* state) {
  return guard_status([&] { G(g).set_state(T(state)); });
}

LADE_EXTERN lade_generator* lade_generator_default() {
  return guard_value<lade_generator*>(
      nullptr, [&] { return new lade_generator{at::detail::getDefaultCPUGenerator()}; });
}
