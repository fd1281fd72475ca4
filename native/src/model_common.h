// Shared declarations of lade's models (native/src/model_*.cpp) and the
// optimiser (native/src/optim.cpp): a backbone maps images to a feature
// vector, a head maps features to logits, and a Model handle owns both.
#pragma once
#include <memory>
#include <string>

#include "common.h"

namespace lade {

/// A network from images [N, C, S, S] to features [N, feature_dim()].
struct Backbone : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual int64_t feature_dim() const = 0;
};

/// The 28-pixel CNN of the default run (5 layers: 3 conv + 2 linear).
std::shared_ptr<Backbone> make_cnn28(int64_t in_channels);
/// ResNet-32 for 32-pixel images (16/32/64 channels, 5 basic blocks a stage).
/// `two_branch`: the LADE/BBN variant whose last stage ends in two parallel
/// blocks whose pooled outputs are concatenated (128 features).
/// `projection`: 1x1-convolution shortcuts (option B) instead of the official
/// parameter-free option A.
std::shared_ptr<Backbone> make_resnet32(int64_t in_channels, bool two_branch, bool projection);
/// ImageNet-style networks for 224-pixel images: "resnet10", "resnet50",
/// "resnet101", "resnet152", "resnext50" (32x4d). Throws on another name.
std::shared_ptr<Backbone> make_resnet_imagenet(const std::string& name, int64_t in_channels);

/// Initialises convolutions (Kaiming normal, fan-out, as torchvision's ResNets)
/// and batch norms (weight 1, bias 0) of `m` and its children.
void init_resnet_weights(torch::nn::Module& m);

/// Cosine classifier: scale * <x / |x|, w_c / |w_c|>.
struct CosineHead : torch::nn::Module {
  CosineHead(int64_t in_features, int64_t classes, double scale);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double scale;
};

/// Backbone + head, the module whose parameters the optimiser updates.
struct Classifier : torch::nn::Module {
  Classifier(std::shared_ptr<Backbone> backbone, int64_t classes, bool cosine, double scale);
  /// Features [N, D] and logits [N, C].
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  std::shared_ptr<Backbone> backbone;
  torch::nn::Linear linear{nullptr};
  std::shared_ptr<CosineHead> cosine;
  /// Run convolutions on channels-last (NHWC) tensors: oneDNN's faster CPU
  /// path. Set by use_memory_format().
  bool channels_last = false;
  /// Run the network under bf16 autocast on CUDA (the logits come back as
  /// float32); see lade_model_set_precision.
  bool autocast_bf16 = false;
};

}  // namespace lade

/// What a model handle (lade.h's opaque lade_model) points at.
struct lade_model {
  std::shared_ptr<lade::Classifier> net;
  torch::Device device{torch::kCPU};
  std::string arch;
  /// Frozen parts (LADE_PART_BACKBONE, LADE_PART_HEAD): no gradients, and
  /// kept in eval mode (batch-norm statistics unchanged) in train mode.
  bool frozen[2] = {false, false};
  /// The names lade_model_state_names() returned last (kept alive here).
  std::string state_names;
};

namespace lade {

using Model = ::lade_model;

/// Puts 4-D parameters in the layout that suits the model's device
/// (channels-last on the CPU, contiguous elsewhere) and sets
/// Classifier::channels_last to match. Call after creating, moving or loading.
void use_memory_format(Model& model);

/// The model's parameters and buffers in state-dict order (as PyTorch's
/// Module.state_dict() walks a module: its own parameters, its own buffers,
/// then each child in registration order), with their dotted names.
std::vector<std::pair<std::string, torch::Tensor>> state_entries(const Model& model);

/// Dereferences a model handle, throwing a clear error on NULL.
inline Model& M(lade_model* h) {
  if (!h) throw std::invalid_argument("null model handle");
  return *h;
}

}  // namespace lade
