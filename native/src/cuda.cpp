// CUDA specifics: build facts, device properties and memory, the side stream
// a training run computes on, cuDNN's autotuner and CUDA graphs.
//
// Everything that needs CUDA headers compiles only when CMake found a CUDA
// libtorch (LADE_WITH_CUDA); a CPU build keeps the same entry points, which
// report that CUDA is not available. That keeps one ABI for both builds.
#include <torch/version.h>

#include <cstdlib>
#include <sstream>

#include "common.h"
#include "model_common.h"

#ifdef LADE_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <optional>
#endif

namespace {

constexpr const char* kNoCuda = "this libtorch build has no CUDA";

#ifdef LADE_WITH_CUDA
std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

c10::DeviceIndex cuda_index(int32_t index) {
  const auto dev = lade::to_device(LADE_DEVICE_CUDA, index);
  return dev.index();
}
#endif

}  // namespace

/// What a CUDA graph handle points at: the graph, and the stream that was
/// current when its capture began (replays go to that stream).
struct lade_graph {
#ifdef LADE_WITH_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
  bool captured = false;
  bool capturing = false;
};

namespace {

/// LADE_CUDNN=0 turns cuDNN off (convolutions then use libtorch's own CUDA
/// kernels, several times slower): a way around a cuDNN that fails in this
/// process, without rebuilding.
__attribute__((constructor)) void read_cudnn_switch() {
  const char* v = std::getenv("LADE_CUDNN");
  if (v && std::string(v) == "0") {
    try {
      at::globalContext().setUserEnabledCuDNN(false);
    } catch (...) {
    }
  }
}

}  // namespace

using namespace lade;

LADE_EXTERN const char* lade_build_info(void) {
  static const std::string info = [] {
    std::ostringstream s;
    s << "{\"torch\":\"" << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "."
      << TORCH_VERSION_PATCH << "\"";
#ifdef LADE_WITH_CUDA
    s << ",\"cuda\":true";
#else
    s << ",\"cuda\":false";
#endif
#ifdef LADE_TORCH_CUDA_ARCHS
    s << ",\"cuda_archs\":\"" << LADE_TORCH_CUDA_ARCHS << "\"";
#endif
    const int32_t backends = lade_dist_backends();
    s << ",\"gloo\":" << ((backends & (1 << LADE_DIST_GLOO)) ? "true" : "false");
    s << ",\"nccl\":" << ((backends & (1 << LADE_DIST_NCCL)) ? "true" : "false");
#ifdef LADE_WITH_DNNL
    s << ",\"onednn\":true";
#else
    s << ",\"onednn\":false";
#endif
    s << ",\"winograd16\":" << (winograd16::supported() ? "true" : "false");
    s << "}";
    return s.str();
  }();
  return info.c_str();
}

LADE_EXTERN const char* lade_cuda_device_info(int32_t index) {
  static thread_local std::string info;
  return guard_value<const char*>(nullptr, [&]() -> const char* {
#ifdef LADE_WITH_CUDA
    const auto i = cuda_index(index);
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(i);
    size_t free_b = 0, total_b = 0;
    {
      c10::cuda::CUDAGuard guard(i);
      if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = total_b = 0;
    }
    std::ostringstream s;
    s << "{\"index\":" << static_cast<int>(i) << ",\"name\":\"" << json_escape(p->name)
      << "\",\"capability\":[" << p->major << "," << p->minor
      << "],\"multiprocessors\":" << p->multiProcessorCount << ",\"memory_total\":" << total_b
      << ",\"memory_free\":" << free_b << "}";
    info = s.str();
    return info.c_str();
#else
    (void)index;
    throw std::runtime_error(kNoCuda);
#endif
  });
}

LADE_EXTERN int32_t lade_cuda_memory_stats(int32_t index, int64_t* out) {
  return guard_status([&] {
#ifdef LADE_WITH_CUDA
    const auto i = cuda_index(index);
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(i);
    // Index 0 of each stat array is the aggregate over pool types.
    out[0] = stats.allocated_bytes[0].current;
    out[1] = stats.allocated_bytes[0].peak;
    out[2] = stats.reserved_bytes[0].current;
    size_t free_b = 0, total_b = 0;
    c10::cuda::CUDAGuard guard(i);
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = total_b = 0;
    out[3] = static_cast<int64_t>(free_b);
#else
    (void)index;
    (void)out;
    throw std::runtime_error(kNoCuda);
#endif
  });
}

LADE_EXTERN int32_t lade_cuda_use_side_stream(int32_t index, int32_t on) {
  return guard_status([&] {
#ifdef LADE_WITH_CUDA
    const auto i = cuda_index(index);
    // CUDA graphs cannot capture the legacy default stream, and a dedicated
    // stream keeps this thread's work apart from the data loader threads'.
    static thread_local std::optional<c10::cuda::CUDAStream> side[64];
    if (i < 0 || i >= 64) throw std::invalid_argument("CUDA device index out of range");
    if (on) {
      if (!side[i]) side[i] = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, i);
      // What was queued before (weights moved, constants made) must be done
      // before the dedicated stream, which does not wait for others, uses it.
      c10::cuda::getCurrentCUDAStream(i).synchronize();
      c10::cuda::setCurrentCUDAStream(*side[i]);
    } else {
      c10::cuda::getCurrentCUDAStream(i).synchronize();
      c10::cuda::setCurrentCUDAStream(c10::cuda::getDefaultCUDAStream(i));
    }
#else
    (void)index;
    if (on) throw std::runtime_error(kNoCuda);
#endif
  });
}

LADE_EXTERN int32_t lade_set_cudnn_benchmark(int32_t on) {
  return guard_status([&] { at::globalContext().setBenchmarkCuDNN(on != 0); });
}

LADE_EXTERN lade_graph* lade_graph_new(void) {
  return guard_value<lade_graph*>(nullptr, [] {
#ifndef LADE_WITH_CUDA
    throw std::runtime_error(std::string("CUDA graphs: ") + kNoCuda);
#endif
    return new lade_graph();
  });
}

LADE_EXTERN void lade_graph_free(lade_graph* g) {
  try {
    delete g;
  } catch (...) {
    record_current_exception();
  }
}

LADE_EXTERN int32_t lade_graph_capture_begin(lade_graph* g) {
  return guard_status([&] {
    if (!g) throw std::invalid_argument("null graph handle");
#ifdef LADE_WITH_CUDA
    if (g->capturing) throw std::runtime_error("the graph is already capturing");
    g->graph = std::make_unique<at::cuda::CUDAGraph>();
    g->captured = false;
    // Thread-local mode: the data loader's threads may keep calling CUDA.
    g->graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    g->capturing = true;
#endif
  });
}

LADE_EXTERN int32_t lade_graph_capture_end(lade_graph* g) {
  return guard_status([&] {
    if (!g) throw std::invalid_argument("null graph handle");
#ifdef LADE_WITH_CUDA
    if (!g->capturing) throw std::runtime_error("the graph is not capturing");
    g->capturing = false;
    g->graph->capture_end();
    g->captured = true;
#endif
  });
}

LADE_EXTERN int32_t lade_graph_capture_abort(lade_graph* g) {
  return guard_status([&] {
    if (!g) throw std::invalid_argument("null graph handle");
#ifdef LADE_WITH_CUDA
    // Ends a capture that failed half-way so that the stream works again;
    // what was recorded is thrown away.
    if (g->capturing) {
      g->capturing = false;
      try {
        g->graph->capture_end();
      } catch (...) {
      }
    }
    g->graph.reset();
    g->captured = false;
#endif
  });
}

LADE_EXTERN int32_t lade_graph_replay(lade_graph* g) {
  return guard_status([&] {
    if (!g) throw std::invalid_argument("null graph handle");
#ifdef LADE_WITH_CUDA
    if (!g->captured) throw std::runtime_error("the graph has not been captured");
    g->graph->replay();
#endif
  });
}
