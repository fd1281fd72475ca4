// The C ABI of lade's models: build a network by name, move it, switch
// train/eval mode, run it (a new tensor handle that carries autograd back
// into the module's parameters), count and export parameters, save and load.
#include "model_common.h"

#include <algorithm>

#ifdef LADE_WITH_CUDA
#include <ATen/autocast_mode.h>
#endif

namespace lade {

#ifdef LADE_WITH_CUDA
namespace {

/// bf16 autocast on CUDA for the lifetime of the guard; restores what was set.
class AutocastBf16 {
 public:
  AutocastBf16()
      : enabled_(at::autocast::is_autocast_enabled(at::kCUDA)),
        dtype_(at::autocast::get_autocast_dtype(at::kCUDA)),
        cache_(at::autocast::is_autocast_cache_enabled()) {
    at::autocast::set_autocast_cache_enabled(false);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~AutocastBf16() {
    at::autocast::set_autocast_enabled(at::kCUDA, enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype_);
    at::autocast::set_autocast_cache_enabled(cache_);
  }
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool enabled_;
  at::ScalarType dtype_;
  bool cache_;
};

}  // namespace
#endif

CosineHead::CosineHead(int64_t in_features, int64_t classes, double scale) : scale(scale) {
  weight = register_parameter("weight", torch::empty({classes, in_features}));
  // As the official cosine classifiers (LDAM-DRW's and SADE's NormedLinear:
  // uniform(-1, 1), then each class's vector renormalised to length 1). The
  // length matters although the logits ignore it: the gradient of w / |w|
  // scales with 1 / |w|, and weight decay shrinks |w| from there.
  torch::NoGradGuard no_grad;
  weight.uniform_(-1.0, 1.0);
  weight.div_(weight.norm(2, {1}, /*keepdim=*/true));
}

torch::Tensor CosineHead::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  auto xn = F::normalize(x, F::NormalizeFuncOptions().dim(1));
  auto wn = F::normalize(weight, F::NormalizeFuncOptions().dim(1));
  return torch::matmul(xn, wn.t()) * scale;
}

Classifier::Classifier(std::shared_ptr<Backbone> b, int64_t classes, bool use_cosine, double scale)
    : backbone(register_module("backbone", std::move(b))) {
  const int64_t experts = backbone->experts();
  const int64_t d = backbone->feature_dim() / experts;
  if (experts > 1) {
    heads = register_module("head", torch::nn::ModuleList());
    for (int64_t e = 0; e < experts; ++e) {
      if (use_cosine) {
        heads->push_back(std::make_shared<CosineHead>(d, classes, scale));
      } else {
        heads->push_back(torch::nn::Linear(d, classes));
      }
    }
  } else if (use_cosine) {
    cosine = register_module("head", std::make_shared<CosineHead>(d, classes, scale));
  } else {
    linear = register_module("head", torch::nn::Linear(d, classes));
  }
}

torch::Tensor Classifier::head_forward(const torch::Tensor& features) {
  if (!heads) return cosine ? cosine->forward(features) : linear->forward(features);
  // Expert e reads its own columns of the features; the logits are the
  // experts' side by side.
  const auto parts = features.chunk(static_cast<int64_t>(heads->size()), 1);
  std::vector<torch::Tensor> logits;
  for (size_t e = 0; e < heads->size(); ++e) {
    const auto head = heads->ptr(e);
    if (auto* c = head->as<CosineHead>()) {
      logits.push_back(c->forward(parts[e]));
    } else {
      logits.push_back(head->as<torch::nn::Linear>()->forward(parts[e]));
    }
  }
  return torch::cat(logits, 1);
}

std::pair<torch::Tensor, torch::Tensor> Classifier::forward(const torch::Tensor& x) {
  const auto input =
      channels_last && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
#ifdef LADE_WITH_CUDA
  if (autocast_bf16 && input.is_cuda()) {
    // Mixed precision: convolutions and matrix products in bf16, the rest as
    // autocast decides; what leaves the network is float32, so losses and
    // their batch statistics stay in fp32. The cast cache stays off: a CUDA
    // graph would otherwise keep stale bf16 copies of the weights.
    const AutocastBf16 autocast;
    auto features = backbone->forward(input);
    auto logits = head_forward(features);
    return {features.to(torch::kFloat32), logits.to(torch::kFloat32)};
  }
#endif
  auto features = backbone->forward(input);
  auto logits = head_forward(features);
  return {features, logits};
}

namespace {

/// One architecture the factory builds: its name and how to make its backbone.
struct Architecture {
  const char* name;
  std::shared_ptr<Backbone> (*make)(int64_t in_channels);
};

/// The one list of architectures: make_backbone() builds from it and
/// lade_model_architectures() reports it (lib/models checks its own list against that).
const Architecture kArchitectures[] = {
    {"cnn28", [](int64_t c) { return make_cnn28(c); }},
    {"resnet32", [](int64_t c) { return make_resnet32(c, false, false); }},
    {"resnet32-2branch", [](int64_t c) { return make_resnet32(c, true, false); }},
    {"resnet32-proj", [](int64_t c) { return make_resnet32(c, false, true); }},
    {"resnet32-2branch-proj", [](int64_t c) { return make_resnet32(c, true, true); }},
    {"resnet10", [](int64_t c) { return make_resnet_imagenet("resnet10", c); }},
    {"resnet18", [](int64_t c) { return make_resnet_imagenet("resnet18", c); }},
    {"resnet34", [](int64_t c) { return make_resnet_imagenet("resnet34", c); }},
    {"resnet50", [](int64_t c) { return make_resnet_imagenet("resnet50", c); }},
    {"resnet101", [](int64_t c) { return make_resnet_imagenet("resnet101", c); }},
    {"resnet152", [](int64_t c) { return make_resnet_imagenet("resnet152", c); }},
    {"resnext50", [](int64_t c) { return make_resnet_imagenet("resnext50", c); }},
    {"cnn28-sade", [](int64_t c) { return make_cnn28_experts(c, 3); }},
    {"resnet32-sade", [](int64_t c) { return make_resnet32_experts(c, 3); }},
    {"resnet10-sade", [](int64_t c) { return make_resnet_imagenet_experts("resnet10", c, 3); }},
    {"resnet50-sade", [](int64_t c) { return make_resnet_imagenet_experts("resnet50", c, 3); }},
    {"resnext50-sade", [](int64_t c) { return make_resnet_imagenet_experts("resnext50", c, 3); }},
    {"resnet152-sade", [](int64_t c) { return make_resnet_imagenet_experts("resnet152", c, 3); }},
};

/// The architecture names, comma-separated.
const std::string& architecture_names() {
  static const std::string names = [] {
    std::string out;
    for (const auto& a : kArchitectures) out += (out.empty() ? "" : ",") + std::string(a.name);
    return out;
  }();
  return names;
}

std::shared_ptr<Backbone> make_backbone(const std::string& arch, int64_t in_channels) {
  for (const auto& a : kArchitectures) {
    if (arch == a.name) return a.make(in_channels);
  }
  throw std::invalid_argument("unknown architecture '" + arch + "' (" + architecture_names() + ")");
}

}  // namespace

namespace {

void collect_state(const torch::nn::Module& m, const std::string& prefix,
                   std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) {
    out.emplace_back(prefix + p.key(), p.value());
  }
  for (const auto& b : m.named_buffers(/*recurse=*/false)) {
    out.emplace_back(prefix + b.key(), b.value());
  }
  for (const auto& c : m.named_children()) collect_state(*c.value(), prefix + c.key() + ".", out);
}

/// The parameters of one part of the classifier (LADE_PART_BACKBONE or LADE_PART_HEAD).
std::vector<torch::Tensor> part_parameters(const Classifier& net, int32_t part) {
  if (part == LADE_PART_BACKBONE) return net.backbone->parameters();
  if (part == LADE_PART_HEAD) {
    if (net.heads) return net.heads->parameters();  // one head per expert
    return net.cosine ? net.cosine->parameters() : net.linear->parameters();
  }
  throw std::invalid_argument("unknown model part " + std::to_string(part));
}

/// Train or eval mode, with frozen parts kept in eval mode.
void apply_mode(Model& model, bool train) {
  model.net->train(train);
  if (!train) return;
  if (model.frozen[LADE_PART_BACKBONE]) model.net->backbone->train(false);
  if (model.frozen[LADE_PART_HEAD]) {
    if (model.net->cosine) model.net->cosine->train(false);
    if (model.net->linear) model.net->linear->train(false);
    if (model.net->heads) model.net->heads->train(false);
  }
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> state_entries(const Model& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  collect_state(*model.net, "", out);
  return out;
}

void use_memory_format(Model& model) {
  torch::NoGradGuard no_grad;
  // Channels-last on every device: oneDNN's faster CPU convolutions, and
  // cuDNN's tensor-core kernels (NHWC) on CUDA.
  for (auto& p : model.net->parameters()) {
    if (p.dim() == 4)
      p.set_data(p.data().to(p.options(), false, false, at::MemoryFormat::ChannelsLast));
  }
  model.net->channels_last = true;
  // Parameters were replaced or converted: fold batch norms afresh (BnFolds).
  model.net->backbone->folds.clear();
}

}  // namespace lade

using namespace lade;

LADE_EXTERN lade_model* lade_model_new(const char* arch, int32_t classes, int32_t in_channels,
                                       int32_t head, double scale) {
  return guard_value<lade_model*>(nullptr, [&] {
    if (!arch) throw std::invalid_argument("null architecture name");
    if (classes < 1) throw std::invalid_argument("classes must be positive");
    if (in_channels < 1) throw std::invalid_argument("input channels must be positive");
    if (head != LADE_HEAD_LINEAR && head != LADE_HEAD_COSINE) {
      throw std::invalid_argument("unknown head code " + std::to_string(head));
    }
    auto net = std::make_shared<Classifier>(make_backbone(arch, in_channels), classes,
                                            head == LADE_HEAD_COSINE, scale);
    net->train(true);
    auto* model = new Model();
    model->net = std::move(net);
    model->arch = arch;
    use_memory_format(*model);
    return model;
  });
}

LADE_EXTERN const char* lade_model_architectures() {
  return guard_value<const char*>("", [] { return architecture_names().c_str(); });
}

LADE_EXTERN void lade_model_free(lade_model* m) { delete m; }

LADE_EXTERN int32_t lade_model_to(lade_model* m, int32_t device_type, int32_t device_index) {
  return guard_status([&] {
    auto& model = M(m);
    model.device = to_device(device_type, device_index);
    model.net->to(model.device);
    use_memory_format(model);
  });
}

LADE_EXTERN int32_t lade_model_set_precision(lade_model* m, int32_t dtype) {
  return guard_status([&] {
    auto& model = M(m);
    if (dtype == LADE_FLOAT32) {
      model.net->autocast_bf16 = false;
    } else if (dtype == LADE_BFLOAT16) {
#ifndef LADE_WITH_CUDA
      throw std::invalid_argument("bf16 training needs a CUDA build of libtorch (use fp32)");
#endif
      model.net->autocast_bf16 = true;
    } else {
      throw std::invalid_argument("precision must be float32 or bfloat16");
    }
  });
}

LADE_EXTERN int32_t lade_model_set_train(lade_model* m, int32_t train) {
  return guard_status([&] { apply_mode(M(m), train != 0); });
}

LADE_EXTERN int32_t lade_model_freeze(lade_model* m, int32_t part, int32_t frozen) {
  return guard_status([&] {
    auto& model = M(m);
    for (auto& p : part_parameters(*model.net, part)) p.requires_grad_(frozen == 0);
    model.frozen[part] = frozen != 0;
    apply_mode(model, model.net->is_training());
  });
}

LADE_EXTERN const char* lade_model_state_names(lade_model* m) {
  return guard_value<const char*>(nullptr, [&] {
    auto& model = M(m);
    std::string names;
    for (const auto& [name, t] : state_entries(model)) names += name + "\n";
    model.state_names = std::move(names);
    return model.state_names.c_str();
  });
}

LADE_EXTERN int32_t lade_model_state_tensors(lade_model* m, lade_tensor** out, int32_t capacity) {
  return guard_value<int32_t>(-1, [&] {
    if (capacity < 0 || (capacity > 0 && !out)) {
      throw std::invalid_argument("lade_model_state_tensors: bad output array");
    }
    const auto entries = state_entries(M(m));
    const auto n = static_cast<int32_t>(entries.size());
    for (int32_t i = 0; i < std::min(n, capacity); i++) {
      out[i] = wrap(entries[static_cast<size_t>(i)].second.detach());
    }
    return n;
  });
}

LADE_EXTERN int64_t lade_model_num_params(lade_model* m) {
  return guard_value<int64_t>(-1, [&] {
    int64_t n = 0;
    for (const auto& p : M(m).net->parameters()) n += p.numel();
    return n;
  });
}

LADE_EXTERN int32_t lade_model_feature_dim(lade_model* m) {
  return guard_value<int32_t>(
      -1, [&] { return static_cast<int32_t>(M(m).net->backbone->feature_dim()); });
}

LADE_EXTERN lade_tensor* lade_model_forward(lade_model* m, lade_tensor* x) {
  return guard_tensor([&] { return M(m).net->forward(T(x)).second; });
}

LADE_EXTERN int32_t lade_model_forward_features(lade_model* m, lade_tensor* x, lade_tensor** out) {
  return guard_status([&] {
    auto [features, logits] = M(m).net->forward(T(x));
    out[0] = wrap(std::move(features));
    out[1] = wrap(std::move(logits));
  });
}

LADE_EXTERN lade_tensor* lade_model_state_vector(lade_model* m, int32_t buffers) {
  return guard_tensor([&] {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (const auto& p : M(m).net->parameters()) {
      parts.push_back(p.detach().to(torch::kCPU, torch::kFloat32).flatten());
    }
    if (buffers) {
      for (const auto& b : M(m).net->buffers()) {
        if (b.is_floating_point())
          parts.push_back(b.detach().to(torch::kCPU, torch::kFloat32).flatten());
      }
    }
    return torch::cat(parts);
  });
}

LADE_EXTERN int32_t lade_model_tensors(lade_model* m, int32_t which, lade_tensor** out,
                                       int32_t capacity) {
  return guard_value<int32_t>(-1, [&] {
    if (which < 1 || which > 3) {
      throw std::invalid_argument("lade_model_tensors: `which` must be 1, 2 or 3");
    }
    if (capacity < 0 || (capacity > 0 && !out)) {
      throw std::invalid_argument("lade_model_tensors: bad output array");
    }
    std::vector<torch::Tensor> all;
    if (which & 1) {
      for (const auto& p : M(m).net->parameters()) all.push_back(p.detach());
    }
    if (which & 2) {
      for (const auto& b : M(m).net->buffers()) all.push_back(b.detach());
    }
    const auto n = static_cast<int32_t>(all.size());
    for (int32_t i = 0; i < std::min(n, capacity); i++) out[i] = wrap(all[static_cast<size_t>(i)]);
    return n;
  });
}

LADE_EXTERN lade_tensor* lade_model_serialize(lade_model* m) {
  return guard_tensor([&] {
    torch::serialize::OutputArchive archive;
    M(m).net->save(archive);
    return archive_bytes(archive);
  });
}

LADE_EXTERN int32_t lade_model_deserialize(lade_model* m, const uint8_t* data, int64_t size) {
  return guard_status([&] {
    auto& model = M(m);
    torch::serialize::InputArchive archive;
    load_archive(archive, data, size, model.device);
    model.net->load(archive);
    use_memory_format(model);
  });
}
