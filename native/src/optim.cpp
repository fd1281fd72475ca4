// SGD with momentum, optional Nesterov momentum and weight decay, as
// torch.optim.SGD computes it (dampening 0), over flat buffers.
//
// At creation the model's parameters are moved into one contiguous buffer
// (each parameter becomes a view of it, keeping its memory format) and their
// gradients into another, so that
//  - a step is four whole-buffer kernels, whatever the number of parameters;
//  - data-parallel training all-reduces one gradient buffer (in buckets);
//  - the learning rates live in a device tensor, so a CUDA graph that
//    captured the step reads the current rates at every replay.
// Parameter groups are the two contiguous segments of the flat buffer: the
// backbone's parameters (registered first) and the head's. Each has its own
// rate (lr[0], lr[1]); weight decay and momentum run over the active range
// once, then one addcmul per segment applies its rate. A frozen group is left
// out of the step altogether (no decay, no momentum, no update).
// Autograd accumulates into the existing gradient views in place. Anything
// that replaces a parameter's storage (loading weights) is detected at the
// next step and the views are rebuilt, keeping the values.
#include <torch/version.h>

#include <sstream>

#include "model_common.h"

/// What an optimiser handle (lade.h's opaque lade_sgd) points at.
struct lade_sgd {
  std::shared_ptr<lade::Classifier> net;  // keeps the parameters alive
  std::vector<torch::Tensor> params;
  torch::Tensor flat_params, flat_grads, momentum_buffer;
  /// Per-group learning rates [2] on the parameters' device (backbone, head).
  torch::Tensor lr;
  /// Elements of the backbone's segment (the head's starts there).
  int64_t split = 0;
  /// Groups left out of the step (LADE_PART_BACKBONE, LADE_PART_HEAD).
  bool frozen[2] = {false, false};
  double momentum = 0, weight_decay = 0;
  bool nesterov = false;
  torch::Device device{torch::kCPU};
};

namespace {

lade_sgd& S(lade_sgd* h) {
  if (!h) throw std::invalid_argument("null optimiser handle");
  return *h;
}

/// True when every parameter (and its gradient) is still the view bind() made.
bool bound(const lade_sgd& s) {
  if (!s.flat_params.defined()) return false;
  const char* p0 = static_cast<const char*>(s.flat_params.data_ptr());
  const char* g0 = static_cast<const char*>(s.flat_grads.data_ptr());
  const auto esize = static_cast<int64_t>(s.flat_params.element_size());
  int64_t offset = 0;
  for (const auto& p : s.params) {
    const auto& g = p.grad();
    if (p.device() != s.device || p.scalar_type() != torch::kFloat32 || !g.defined() ||
        static_cast<const char*>(p.data_ptr()) != p0 + offset * esize ||
        static_cast<const char*>(g.data_ptr()) != g0 + offset * esize ||
        g.strides() != p.strides()) {
      return false;
    }
    offset += p.numel();
  }
  return offset == s.flat_params.numel();
}

/// (Re)builds the flat buffers from the parameters' current values and
/// gradients; the momentum buffer keeps its values.
void bind(lade_sgd& s) {
  torch::NoGradGuard no_grad;
  int64_t total = 0;
  for (const auto& p : s.params) {
    if (!p.is_floating_point() || p.scalar_type() != torch::kFloat32) {
      throw std::invalid_argument("SGD needs float32 parameters");
    }
    if (!p.is_non_overlapping_and_dense()) {
      throw std::invalid_argument("SGD needs dense parameters");
    }
    total += p.numel();
  }
  s.device = s.params.empty() ? torch::Device(torch::kCPU) : s.params.front().device();
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(s.device);
  auto flat_params = torch::empty({total}, opts);
  auto flat_grads = torch::zeros({total}, opts);
  int64_t offset = 0;
  for (auto& p : s.params) {
    const auto n = p.numel();
    // The view keeps the parameter's strides (channels-last stays channels-last).
    auto pv = flat_params.narrow(0, offset, n).as_strided(p.sizes(), p.strides());
    pv.copy_(p.detach());
    auto gv = flat_grads.narrow(0, offset, n).as_strided(p.sizes(), p.strides());
    if (p.grad().defined()) gv.copy_(p.grad());
    p.set_data(pv);
    p.mutable_grad() = gv;
    offset += n;
  }
  s.flat_params = flat_params;
  s.flat_grads = flat_grads;
  if (!s.momentum_buffer.defined() || s.momentum_buffer.numel() != total) {
    s.momentum_buffer = torch::zeros({total}, opts);
  } else if (s.momentum_buffer.device() != s.device) {
    s.momentum_buffer = s.momentum_buffer.to(s.device);
  }
  if (!s.lr.defined() || s.lr.device() != s.device) {
    s.lr = s.lr.defined() ? s.lr.to(s.device) : torch::zeros({2}, opts);
  }
  int64_t split = 0;
  for (const auto& p : s.net->backbone->parameters()) split += p.numel();
  s.split = split;
}

int32_t checked_part(int32_t part) {
  if (part != LADE_PART_BACKBONE && part != LADE_PART_HEAD) {
    throw std::invalid_argument("unknown parameter group " + std::to_string(part));
  }
  return part;
}

void ensure_bound(lade_sgd& s) {
  if (!bound(s)) bind(s);
}

}  // namespace

using namespace lade;

LADE_EXTERN lade_sgd* lade_sgd_new(lade_model* model, double lr, double momentum,
                                   double weight_decay, int32_t nesterov) {
  return guard_value<lade_sgd*>(nullptr, [&] {
    auto& m = M(model);
    if (!(lr >= 0)) throw std::invalid_argument("learning rate must be >= 0");
    if (!(momentum >= 0)) throw std::invalid_argument("momentum must be >= 0");
    if (!(weight_decay >= 0)) throw std::invalid_argument("weight decay must be >= 0");
    if (nesterov && momentum <= 0)
      throw std::invalid_argument("Nesterov momentum needs momentum > 0");
    auto s = std::make_unique<lade_sgd>();
    s->net = m.net;
    s->params = m.net->parameters();
    s->momentum = momentum;
    s->weight_decay = weight_decay;
    s->nesterov = nesterov != 0;
    bind(*s);
    s->lr.fill_(lr);
    return s.release();
  });
}

LADE_EXTERN void lade_sgd_free(lade_sgd* o) { delete o; }

LADE_EXTERN int32_t lade_sgd_set_lr(lade_sgd* o, double lr) {
  return guard_status([&] {
    if (!(lr >= 0)) throw std::invalid_argument("learning rate must be >= 0");
    auto& s = S(o);
    ensure_bound(s);
    torch::NoGradGuard no_grad;
    s.lr.fill_(lr);
  });
}

LADE_EXTERN int32_t lade_sgd_set_group_lr(lade_sgd* o, int32_t part, double lr) {
  return guard_status([&] {
    if (!(lr >= 0)) throw std::invalid_argument("learning rate must be >= 0");
    auto& s = S(o);
    ensure_bound(s);
    torch::NoGradGuard no_grad;
    s.lr.narrow(0, checked_part(part), 1).fill_(lr);
  });
}

LADE_EXTERN int32_t lade_sgd_set_frozen(lade_sgd* o, int32_t part, int32_t frozen) {
  return guard_status([&] { S(o).frozen[checked_part(part)] = frozen != 0; });
}

LADE_EXTERN int32_t lade_sgd_zero_grad(lade_sgd* o) {
  return guard_status([&] {
    auto& s = S(o);
    ensure_bound(s);
    s.flat_grads.zero_();
  });
}

LADE_EXTERN int32_t lade_sgd_step(lade_sgd* o) {
  return guard_status([&] {
    auto& s = S(o);
    ensure_bound(s);
    torch::NoGradGuard no_grad;
    // The active range: the groups that are not frozen (contiguous, since
    // there are two segments).
    const int64_t total = s.flat_params.numel();
    const int64_t lo = s.frozen[LADE_PART_BACKBONE] ? s.split : 0;
    const int64_t hi = s.frozen[LADE_PART_HEAD] ? s.split : total;
    if (hi <= lo) return;
    // d = g + wd * p; with momentum, buf = m * buf + d (a zero buffer makes
    // the first step buf = d, as torch.optim.SGD does) and d = buf, or
    // d + m * buf for Nesterov; p -= lr_group * d.
    auto g = s.flat_grads.narrow(0, lo, hi - lo);
    auto p = s.flat_params.narrow(0, lo, hi - lo);
    if (s.weight_decay != 0) g.add_(p, s.weight_decay);
    torch::Tensor d = g;
    if (s.momentum != 0) {
      auto buf = s.momentum_buffer.narrow(0, lo, hi - lo);
      buf.mul_(s.momentum).add_(g);
      d = s.nesterov ? g.add_(buf, s.momentum) : buf;
    }
    const int64_t bounds[3] = {lo, std::max(lo, std::min(hi, s.split)), hi};
    for (int32_t group = 0; group < 2; group++) {
      const int64_t a = bounds[group], b = bounds[group + 1];
      if (b <= a) continue;
      p.narrow(0, a - lo, b - a)
          .addcmul_(d.narrow(0, a - lo, b - a), s.lr.narrow(0, group, 1), -1.0);
    }
  });
}

LADE_EXTERN lade_tensor* lade_sgd_flat_grad(lade_sgd* o) {
  return guard_tensor([&] {
    auto& s = S(o);
    ensure_bound(s);
    return s.flat_grads;
  });
}

LADE_EXTERN lade_tensor* lade_sgd_serialize(lade_sgd* o) {
  return guard_tensor([&] {
    auto& s = S(o);
    ensure_bound(s);
    torch::serialize::OutputArchive archive;
    archive.write("lade_flat_sgd", torch::tensor({int64_t{1}}));
    archive.write("momentum_buffer", s.momentum_buffer.to(torch::kCPU));
    return archive_bytes(archive);
  });
}

LADE_EXTERN int32_t lade_sgd_deserialize(lade_sgd* o, const uint8_t* data, int64_t size) {
  return guard_status([&] {
    auto& s = S(o);
    ensure_bound(s);
    torch::NoGradGuard no_grad;
    torch::serialize::InputArchive archive;
    load_archive(archive, data, size, torch::Device(torch::kCPU));
    torch::Tensor marker;
    if (archive.try_read("lade_flat_sgd", marker)) {
      torch::Tensor buf;
      archive.read("momentum_buffer", buf);
      if (buf.numel() != s.momentum_buffer.numel()) {
        throw std::invalid_argument("the optimiser state is for another model (" +
                                    std::to_string(buf.numel()) + " values, expected " +
                                    std::to_string(s.momentum_buffer.numel()) + ")");
      }
      s.momentum_buffer.copy_(buf.reshape({-1}));
      return;
    }
    // A checkpoint written by torch::optim::SGD (lade before the flat buffers):
    // read it with that optimiser and take its momentum buffers. Its state is
    // keyed by the parameter's TensorImpl address printed as text.
    auto params = s.params;
    torch::optim::SGD legacy(params, torch::optim::SGDOptions(0).momentum(s.momentum));
    legacy.load(archive);
    int64_t offset = 0, found = 0;
    for (auto& p : params) {
#if TORCH_VERSION_MAJOR >= 2
      auto it = legacy.state().find(p.unsafeGetTensorImpl());
#else
      std::ostringstream key;
      key << p.unsafeGetTensorImpl();
      auto it = legacy.state().find(key.str());
#endif
      const auto n = p.numel();
      if (it != legacy.state().end()) {
        auto& st = static_cast<torch::optim::SGDParamState&>(*it->second);
        if (st.momentum_buffer().defined()) {
          s.momentum_buffer.narrow(0, offset, n)
              .as_strided(p.sizes(), p.strides())
              .copy_(st.momentum_buffer());
          found++;
        }
      }
      offset += n;
    }
    if (found == 0 && !legacy.state().empty()) {
      throw std::runtime_error("cannot match this optimiser state to the model's parameters");
    }
  });
}
