// Process groups over libtorch's c10d: a TCPStore rendezvous hosted by rank 0,
// then Gloo (CPU) or NCCL (CUDA) collectives. This is the only file that
// touches c10d; it compiles against libtorch 1.13 (Debian; ProcessGroupGloo
// derives from c10d::ProcessGroup) and 2.x (the backends derive from
// c10d::Backend). CMake defines LADE_WITH_C10D when the c10d headers are
// there, LADE_WITH_GLOO (with USE_C10D_GLOO) when gloo's headers are, and
// LADE_WITH_NCCL (with USE_C10D_NCCL) for a CUDA libtorch with nccl.h.
#include <c10/util/Logging.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "lade.h"

#ifndef TORCH_VERSION_MAJOR
#error "torch/version.h did not define TORCH_VERSION_MAJOR"
#endif

#ifdef LADE_WITH_C10D
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#endif
#ifdef LADE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef LADE_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

#ifdef LADE_WITH_C10D
// The class both backends derive from.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif
using WorkPtr = c10::intrusive_ptr<c10d::Work>;
#endif

const char* backend_name(int32_t backend) {
  switch (backend) {
    case LADE_DIST_GLOO: return "gloo";
    case LADE_DIST_NCCL: return "nccl";
  }
  return "?";
}

/// One line: newlines of a native message become "; ".
std::string one_line(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\n' || s[i] == '\r') {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      if (!out.empty() && out.back() != ';') out += "; ";
      while (i + 1 < s.size() && (s[i + 1] == '\n' || s[i + 1] == '\r' || s[i + 1] == ' ')) i++;
    } else {
      out += s[i];
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

/// The message of the exception being handled (libtorch's without its backtrace).
std::string current_message() {
  try {
    throw;
  } catch (const c10::Error& e) {
    return one_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return one_line(e.what());
  } catch (...) {
    return "unknown native error";
  }
}

bool mentions_timeout(const std::string& m) {
  std::string lower(m);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return lower.find("timed out") != std::string::npos || lower.find("timeout") != std::string::npos;
}

/// c10d logs its socket failures to stderr (through glog on 1.13) as well as
/// throwing them; lade reports the exception, as one line. So c10d's log goes
/// quiet below FATAL unless TORCH_CPP_LOG_LEVEL asks for it.
void quiet_c10d_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* level = std::getenv("TORCH_CPP_LOG_LEVEL");
    if (level && *level) return;
    if (FLAGS_caffe2_log_level < 3) FLAGS_caffe2_log_level = 3;
  });
}

std::string seconds(std::chrono::milliseconds t) {
  std::ostringstream s;
  s << static_cast<double>(t.count()) / 1000.0 << " s";
  return s.str();
}

}  // namespace

/// What a process-group handle (lade.h's opaque lade_process_group) points at.
struct lade_process_group {
#ifdef LADE_WITH_C10D
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> pg;
#endif
  int32_t backend = 0;
  int32_t rank = 0;
  int32_t world = 1;
  int32_t device_index = -1;
  std::chrono::milliseconds timeout{0};
  std::string where;  // "rank R of W"
};

namespace {

lade_process_group& P(lade_process_group* h) {
  if (!h) throw std::invalid_argument("null process group handle");
  return *h;
}

#ifdef LADE_WITH_C10D
/// Waits for a collective; a failure becomes one line naming the operation,
/// the rank and, for a timeout, the limit.
void wait_work(lade_process_group& g, const WorkPtr& work, const char* what) {
  try {
    if (g.backend == LADE_DIST_GLOO) {
      // Gloo enforces g.timeout itself on every transfer (its message is the
      // better one); the margin only catches a work item that never started.
      work->wait(g.timeout + std::chrono::milliseconds(2000));
    } else {
      // NCCL: wait() orders the current CUDA stream after the collective; its
      // watchdog enforces the timeout (a blocking wait would stall the CPU).
      work->wait();
    }
  } catch (...) {
    std::string m = current_message();
    if (mentions_timeout(m)) {
      throw std::runtime_error(std::string(what) + " timed out after " + seconds(g.timeout) +
                               " on " + g.where + " (a peer rank hung or died): " + m);
    }
    throw std::runtime_error(std::string(what) + " failed on " + g.where +
                             " (a peer rank exited or the network failed): " + m);
  }
}

/// Runs `f` (which launches a collective) and rewrites a launch failure the same way.
template <class F>
WorkPtr launch(lade_process_group& g, const char* what, F&& f) {
  try {
    return f();
  } catch (...) {
    std::string m = current_message();
    throw std::runtime_error(std::string(what) + " failed on " + g.where + ": " + m);
  }
}

c10::intrusive_ptr<c10d::Store> rendezvous(const std::string& addr, int32_t port, int32_t rank,
                                           int32_t world, std::chrono::milliseconds timeout,
                                           const std::string& where) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = rank == 0;
  opts.numWorkers = static_cast<std::size_t>(world);
  // Rank 0 does not wait here for the others to connect: the process group's
  // own rendezvous through the store waits (once, for the same timeout).
  opts.waitWorkers = false;
  opts.timeout = timeout;
  const std::string at = addr + ":" + std::to_string(port);
  try {
    return c10::make_intrusive<c10d::TCPStore>(addr, opts);
  } catch (...) {
    std::string m = current_message();
    if (rank == 0) {
      if (m.find("bind") != std::string::npos || m.find("listen") != std::string::npos) {
        throw std::runtime_error("cannot host the rendezvous on port " + std::to_string(port) +
                                 " (" + where + "): " + m);
      }
      throw std::runtime_error("rendezvous at " + at + ": not every rank joined within " +
                               seconds(timeout) + " (" + where + "): " + m);
    }
    throw std::runtime_error("cannot reach the rendezvous at " + at + " within " +
                             seconds(timeout) + " (" + where + "): " + m);
  }
}

#ifdef LADE_WITH_GLOO
bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

c10::intrusive_ptr<GroupBase> new_gloo(const c10::intrusive_ptr<c10d::Store>& store,
                                       const std::string& addr, int32_t rank, int32_t world,
                                       std::chrono::milliseconds timeout) {
  auto o = c10d::ProcessGroupGloo::Options::create();
  o->timeout = timeout;
  // As torch.distributed does: GLOO_SOCKET_IFNAME names the interfaces;
  // otherwise the loopback address for a local group, or this host's name.
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname && *ifname) {
    std::stringstream names(ifname);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (!name.empty())
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    }
  } else if (is_loopback(addr)) {
    o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, o);
}
#endif

#ifdef LADE_WITH_NCCL
c10::intrusive_ptr<GroupBase> new_nccl(const c10::intrusive_ptr<c10d::Store>& store, int32_t rank,
                                       int32_t world, int32_t device_index,
                                       std::chrono::milliseconds timeout) {
  if (device_index >= 0) c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
  auto o = c10d::ProcessGroupNCCL::Options::create();
  o->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, o);
}
#endif

/// Forward all-gathers and concatenates along dim 0; backward hands this
/// rank's rows of the incoming gradient back. When every rank evaluates the
/// same loss L on the gathered batch, rank r's parameter gradient is then
/// (dz_r/dθ)^T dL/dz_r, and their SUM over ranks is dL/dθ: the single-process
/// gradient of the global-batch loss.
struct AllGatherFn : public torch::autograd::Function<AllGatherFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor input,
                               lade_process_group* handle, std::vector<int64_t> sizes) {
    auto& g = P(handle);
    const int64_t max_rows = *std::max_element(sizes.begin(), sizes.end());
    torch::Tensor send = input.contiguous();
    if (send.size(0) < max_rows) {
      std::vector<int64_t> shape = send.sizes().vec();
      shape[0] = max_rows - send.size(0);
      send = torch::cat({send, torch::zeros(shape, send.options())}, 0);
    }
    std::vector<at::Tensor> inputs{send};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int32_t r = 0; r < g.world; r++) outputs[0].push_back(torch::empty_like(send));
    auto work = launch(g, "all-gather", [&] { return g.pg->allgather(outputs, inputs); });
    wait_work(g, work, "all-gather");
    std::vector<at::Tensor> parts;
    int64_t offset = 0;
    for (int32_t r = 0; r < g.world; r++) {
      if (r == g.rank) {
        ctx->saved_data["offset"] = offset;
        ctx->saved_data["rows"] = sizes[r];
      }
      parts.push_back(outputs[0][r].narrow(0, 0, sizes[r]));
      offset += sizes[r];
    }
    return torch::cat(parts, 0);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const int64_t offset = ctx->saved_data["offset"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    return {grads[0].narrow(0, offset, rows), torch::Tensor(), torch::Tensor()};
  }
};
#endif  // LADE_WITH_C10D

[[noreturn]] void no_c10d() {
  throw std::runtime_error(
      "this build of lade has no distributed support (libtorch without c10d headers)");
}

}  // namespace

using namespace lade;

LADE_EXTERN int32_t lade_dist_backends(void) {
  int32_t mask = 0;
#ifdef LADE_WITH_GLOO
  mask |= 1 << LADE_DIST_GLOO;
#endif
#ifdef LADE_WITH_NCCL
  mask |= 1 << LADE_DIST_NCCL;
#endif
  return mask;
}

LADE_EXTERN lade_process_group* lade_dist_new(int32_t backend, int32_t rank, int32_t world_size,
                                              const char* master_addr, int32_t master_port,
                                              int64_t timeout_ms, int32_t device_index) {
  return guard_value<lade_process_group*>(nullptr, [&]() -> lade_process_group* {
    if (backend != LADE_DIST_GLOO && backend != LADE_DIST_NCCL) {
      throw std::invalid_argument("unknown distributed backend code " + std::to_string(backend) +
                                  " (0 gloo, 1 nccl)");
    }
    if (world_size < 1) throw std::invalid_argument("world size must be >= 1");
    if (rank < 0 || rank >= world_size) {
      throw std::invalid_argument("rank " + std::to_string(rank) + " is outside 0.." +
                                  std::to_string(world_size - 1));
    }
    if (!master_addr || !*master_addr) throw std::invalid_argument("no master address");
    if (master_port < 1 || master_port > 65535) {
      throw std::invalid_argument("master port " + std::to_string(master_port) +
                                  " is outside 1..65535");
    }
    if (timeout_ms <= 0) throw std::invalid_argument("timeout must be > 0");
    if (!(lade_dist_backends() & (1 << backend))) {
      if (backend == LADE_DIST_NCCL) {
        throw std::runtime_error(
            torch::cuda::is_available()
                ? "backend nccl: this libtorch build has no NCCL; use gloo"
                : "backend nccl needs CUDA, and this libtorch build has no CUDA; use gloo");
      }
      throw std::runtime_error(std::string("backend ") + backend_name(backend) +
                               " is not in this build (no gloo headers at build time)");
    }
#ifndef LADE_WITH_C10D
    (void)device_index;
    no_c10d();
#else
    if (backend == LADE_DIST_NCCL && !torch::cuda::is_available()) {
      throw std::runtime_error("backend nccl needs a CUDA device, and none is available; use gloo");
    }
    auto g = std::make_unique<lade_process_group>();
    g->backend = backend;
    g->rank = rank;
    g->world = world_size;
    g->device_index = device_index;
    g->timeout = std::chrono::milliseconds(timeout_ms);
    g->where = "rank " + std::to_string(rank) + " of " + std::to_string(world_size);
    const std::string addr(master_addr);
    quiet_c10d_log();
    g->store = rendezvous(addr, master_port, rank, world_size, g->timeout, g->where);
    try {
#ifdef LADE_WITH_GLOO
      if (backend == LADE_DIST_GLOO) g->pg = new_gloo(g->store, addr, rank, world_size, g->timeout);
#endif
#ifdef LADE_WITH_NCCL
      if (backend == LADE_DIST_NCCL) {
        g->pg = new_nccl(g->store, rank, world_size, device_index, g->timeout);
      }
#endif
    } catch (...) {
      std::string m = current_message();
      if (mentions_timeout(m)) {
        throw std::runtime_error("rendezvous at " + addr + ":" + std::to_string(master_port) +
                                 ": not every rank joined within " + seconds(g->timeout) + " (" +
                                 g->where + "): " + m);
      }
      throw std::runtime_error(std::string("cannot create the ") + backend_name(backend) +
                               " process group (" + g->where + ", rendezvous " + addr + ":" +
                               std::to_string(master_port) + "): " + m);
    }
    if (!g->pg) no_c10d();
    return g.release();
#endif
  });
}

LADE_EXTERN void lade_dist_free(lade_process_group* pg) {
  try {
    delete pg;
  } catch (...) {
    // A destructor that throws (a broken connection) must not cross the ABI.
  }
}

LADE_EXTERN int32_t lade_dist_all_reduce(lade_process_group* pg, lade_tensor* flat, int32_t op,
                                         int64_t bucket_bytes) {
  return guard_status([&] {
    auto& g = P(pg);
    auto& t = T(flat);
    if (op != LADE_DIST_SUM && op != LADE_DIST_AVG) {
      throw std::invalid_argument("unknown reduction code " + std::to_string(op) +
                                  " (0 sum, 1 avg)");
    }
    if (t.dim() != 1 || !t.is_contiguous()) {
      throw std::invalid_argument("all-reduce takes a flat (1-D, contiguous) tensor");
    }
#ifndef LADE_WITH_C10D
    (void)g;
    (void)bucket_bytes;
    no_c10d();
#else
    torch::NoGradGuard no_grad;
    const int64_t n = t.numel();
    if (n == 0) return;
    const int64_t per_bucket =
        bucket_bytes <= 0 ? n : std::max<int64_t>(1, bucket_bytes / t.element_size());
    // Launch every bucket, then wait: the backend's threads (Gloo) or stream
    // (NCCL) run them back to back while later ones are queued.
    std::vector<WorkPtr> works;
    std::vector<std::vector<at::Tensor>> buckets;
    buckets.reserve(static_cast<size_t>((n + per_bucket - 1) / per_bucket));
    for (int64_t start = 0; start < n; start += per_bucket) {
      buckets.push_back({t.narrow(0, start, std::min(per_bucket, n - start))});
      works.push_back(launch(g, "all-reduce", [&] { return g.pg->allreduce(buckets.back()); }));
    }
    for (auto& w : works) wait_work(g, w, "all-reduce");
    if (op == LADE_DIST_AVG && g.world > 1) t.div_(g.world);
#endif
  });
}

LADE_EXTERN lade_tensor* lade_dist_all_gather(lade_process_group* pg, lade_tensor* t,
                                              const int64_t* sizes) {
  return guard_tensor([&]() -> torch::Tensor {
    auto& g = P(pg);
    auto& x = T(t);
    if (x.dim() < 1) throw std::invalid_argument("all-gather takes a tensor with a dim 0");
#ifndef LADE_WITH_C10D
    (void)g;
    (void)sizes;
    no_c10d();
#else
    std::vector<int64_t> rows(static_cast<size_t>(g.world), x.size(0));
    if (sizes) {
      rows.assign(sizes, sizes + g.world);
      if (rows[static_cast<size_t>(g.rank)] != x.size(0)) {
        throw std::invalid_argument("all-gather: sizes[" + std::to_string(g.rank) + "] is " +
                                    std::to_string(rows[static_cast<size_t>(g.rank)]) +
                                    " but this rank's tensor has " + std::to_string(x.size(0)) +
                                    " rows");
      }
      for (auto r : rows) {
        if (r < 0) throw std::invalid_argument("all-gather: a negative size");
      }
    }
    return AllGatherFn::apply(x, pg, rows);
#endif
  });
}

LADE_EXTERN int32_t lade_dist_broadcast(lade_process_group* pg, lade_tensor* const* handles,
                                        int32_t n, int32_t root) {
  return guard_status([&] {
    auto& g = P(pg);
    if (root < 0 || root >= g.world) {
      throw std::invalid_argument("broadcast root " + std::to_string(root) + " is outside 0.." +
                                  std::to_string(g.world - 1));
    }
    if (n < 0 || (n > 0 && !handles)) throw std::invalid_argument("broadcast: bad tensor list");
#ifndef LADE_WITH_C10D
    (void)g;
    no_c10d();
#else
    torch::NoGradGuard no_grad;
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    // Non-contiguous tensors travel through a contiguous copy.
    std::vector<torch::Tensor> targets;
    std::vector<std::vector<at::Tensor>> sends;
    std::vector<WorkPtr> works;
    sends.reserve(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; i++) {
      auto& x = T(handles[i]);
      targets.push_back(x);
      sends.push_back({x.is_contiguous() ? x : x.contiguous()});
      works.push_back(launch(g, "broadcast", [&] { return g.pg->broadcast(sends.back(), opts); }));
    }
    for (auto& w : works) wait_work(g, w, "broadcast");
    for (int32_t i = 0; i < n; i++) {
      if (!sends[i][0].is_same(targets[i])) targets[i].copy_(sends[i][0]);
    }
#endif
  });
}

LADE_EXTERN int32_t lade_dist_barrier(lade_process_group* pg) {
  return guard_status([&] {
    auto& g = P(pg);
#ifndef LADE_WITH_C10D
    (void)g;
    no_c10d();
#else
    c10d::BarrierOptions opts;
    if (g.backend == LADE_DIST_NCCL && g.device_index >= 0) opts.device_ids = {g.device_index};
    auto work = launch(g, "barrier", [&] { return g.pg->barrier(opts); });
    wait_work(g, work, "barrier");
#endif
  });
}
