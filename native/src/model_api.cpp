// The C ABI of lade's models: build a network by name, move it, switch
// train/eval mode, run it (a new tensor handle that carries autograd back
// into the module's parameters), count and export parameters, save and load.
#include "model_common.h"

namespace lade {

CosineHead::CosineHead(int64_t in_features, int64_t classes, double scale) : scale(scale) {
  weight = register_parameter("weight", torch::empty({classes, in_features}));
  // The same default as nn.Linear, so both heads start from comparable weights.
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
}

torch::Tensor CosineHead::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  auto xn = F::normalize(x, F::NormalizeFuncOptions().dim(1));
  auto wn = F::normalize(weight, F::NormalizeFuncOptions().dim(1));
  return torch::matmul(xn, wn.t()) * scale;
}

Classifier::Classifier(std::shared_ptr<Backbone> b, int64_t classes, bool use_cosine, double scale)
    : backbone(register_module("backbone", std::move(b))) {
  const int64_t d = backbone->feature_dim();
  if (use_cosine) {
    cosine = register_module("head", std::make_shared<CosineHead>(d, classes, scale));
  } else {
    linear = register_module("head", torch::nn::Linear(d, classes));
  }
}

std::pair<torch::Tensor, torch::Tensor> Classifier::forward(const torch::Tensor& x) {
  auto features = backbone->forward(
      channels_last && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
  auto logits = cosine ? cosine->forward(features) : linear->forward(features);
  return {features, logits};
}

static std::shared_ptr<Backbone> make_backbone(const std::string& arch, int64_t in_channels) {
  if (arch == "cnn28") return make_cnn28(in_channels);
  if (arch == "resnet32") return make_resnet32(in_channels, false);
  if (arch == "resnet32-2branch") return make_resnet32(in_channels, true);
  if (arch == "resnet10" || arch == "resnet50" || arch == "resnext50") {
    return make_resnet_imagenet(arch, in_channels);
  }
  throw std::invalid_argument("unknown architecture '" + arch +
                              "' (cnn28, resnet32, resnet32-2branch, resnet10, resnet50, resnext50)");
}

void use_memory_format(Model& model) {
  torch::NoGradGuard no_grad;
  const bool cl = model.device.is_cpu();
  const auto format = cl ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  for (auto& p : model.net->parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(format));
  }
  model.net->channels_last = cl;
}

static const char* checked_path(const char* path) {
  if (!path || !*path) throw std::invalid_argument("empty path");
  return path;
}

}  // namespace lade

using namespace lade;

/// A new model on the CPU in train mode; parameters are drawn from libtorch's
/// global generator (seed it first). `head`: 0 linear, 1 cosine with `scale`.
LADE_EXTERN void* lade_model_new(const char* arch, int32_t classes, int32_t in_channels,
                                 int32_t head, double scale) {
  return guard_value<void*>(nullptr, [&]() -> void* {
    if (!arch) throw std::invalid_argument("null architecture name");
    if (classes < 1) throw std::invalid_argument("classes must be positive");
    if (in_channels < 1) throw std::invalid_argument("input channels must be positive");
    auto net = std::make_shared<Classifier>(make_backbone(arch, in_channels), classes, head == 1,
                                            scale);
    net->train(true);
    auto* model = new Model{std::move(net), torch::Device(torch::kCPU), arch};
    use_memory_format(*model);
    return model;
  });
}

/// Frees a model handle.
LADE_EXTERN void lade_model_free(void* m) { delete static_cast<Model*>(m); }

/// Moves the model's parameters and buffers to a device (0 cpu, 1 cuda).
LADE_EXTERN int32_t lade_model_to(void* m, int32_t device_type, int32_t device_index) {
  return guard_status([&] {
    auto& model = M(m);
    model.device = to_device(device_type, device_index);
    model.net->to(model.device);
    use_memory_format(model);
  });
}

/// Train (1) or eval (0) mode: batch-norm statistics are updated in train mode.
LADE_EXTERN int32_t lade_model_set_train(void* m, int32_t train) {
  return guard_status([&] { M(m).net->train(train != 0); });
}

/// Number of parameter elements (-1 on error).
LADE_EXTERN int64_t lade_model_num_params(void* m) {
  return guard_value<int64_t>(-1, [&] {
    int64_t n = 0;
    for (const auto& p : M(m).net->parameters()) n += p.numel();
    return n;
  });
}

/// Length of the feature vector before the head (-1 on error).
LADE_EXTERN int32_t lade_model_feature_dim(void* m) {
  return guard_value<int32_t>(-1, [&] {
    return static_cast<int32_t>(M(m).net->backbone->feature_dim());
  });
}

/// Logits [N, classes] of images [N, C, S, S] (on the model's device).
LADE_EXTERN torch::Tensor* lade_model_forward(void* m, torch::Tensor* x) {
  return guard_tensor([&] { return M(m).net->forward(T(x)).second; });
}

/// Features [N, D] into out[0] and logits [N, classes] into out[1] (two new handles).
LADE_EXTERN int32_t lade_model_forward_features(void* m, torch::Tensor* x, torch::Tensor** out) {
  return guard_status([&] {
    auto [features, logits] = M(m).net->forward(T(x));
    out[0] = wrap(std::move(features));
    out[1] = wrap(std::move(logits));
  });
}

/// All parameters (and, when `buffers` is 1, the floating-point buffers such as
/// batch-norm statistics) flattened into one detached float32 CPU vector.
LADE_EXTERN torch::Tensor* lade_model_state_vector(void* m, int32_t buffers) {
  return guard_tensor([&] {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (const auto& p : M(m).net->parameters()) {
      parts.push_back(p.detach().to(torch::kCPU, torch::kFloat32).flatten());
    }
    if (buffers) {
      for (const auto& b : M(m).net->buffers()) {
        if (b.is_floating_point()) parts.push_back(b.detach().to(torch::kCPU, torch::kFloat32).flatten());
      }
    }
    return torch::cat(parts);
  });
}

/// Writes parameters and buffers to `path` (libtorch's archive format).
LADE_EXTERN int32_t lade_model_save(void* m, const char* path) {
  return guard_status([&] {
    torch::serialize::OutputArchive archive;
    M(m).net->save(archive);
    archive.save_to(checked_path(path));
  });
}

/// Reads parameters and buffers saved by lade_model_save into the model (same
/// architecture), onto the model's device.
LADE_EXTERN int32_t lade_model_load(void* m, const char* path) {
  return guard_status([&] {
    auto& model = M(m);
    torch::serialize::InputArchive archive;
    archive.load_from(checked_path(path), model.device);
    model.net->load(archive);
    use_memory_format(model);
  });
}
