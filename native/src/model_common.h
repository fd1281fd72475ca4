// Shared declarations of lade's models (native/src/model_*.cpp) and the
// optimiser (native/src/optim.cpp): a backbone maps images to a feature
// vector, a head maps features to logits, and a Model handle owns both.
#pragma once
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "common.h"

namespace lade {

/// Convolutions with the batch norm that follows each folded in, for
/// inference (native/src/model_fold.cpp). A backbone owns one and runs every
/// conv-BN pair through conv_bn(); the folded weights are extra copies, never
/// registered, so parameter and buffer names do not change.
class BnFolds {
 public:
  /// bn(conv(x)). In eval mode with gradients off, one convolution whose
  /// weight is conv's times gamma / sqrt(running_var + eps) (per output
  /// channel) and whose bias is beta - running_mean * that factor (plus conv's
  /// own bias times it): the same values up to rounding. The folded pair is
  /// computed on first use and kept with a copy of the tensors it came from;
  /// each later use compares them with that copy (exactly) and folds again
  /// when anything changed, however it was changed (an optimiser writing
  /// through .data(), loading, moving). Otherwise (training, or gradients
  /// on) the two modules run as they are, the wider 3x3 convolutions on
  /// Winograd's kernels where this build has them (winograd_train_conv).
  torch::Tensor conv_bn(const torch::Tensor& x, torch::nn::Conv2d& conv,
                        torch::nn::BatchNorm2d& bn);
  /// The folded (weight, bias) of a conv-BN pair in eval mode, computed or
  /// refreshed as conv_bn() does; false (and nothing set) where conv_bn()
  /// would not fold (training, gradients on, no running statistics).
  bool folded(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, torch::Tensor& weight,
              torch::Tensor& bias);
  /// relu(bn(conv(x)) + residual) (no residual when undefined) in eval mode
  /// with gradients off on lade's Winograd kernel (winograd16::conv), the
  /// transformed weight made once per fold; undefined where that does not
  /// apply (not folding, not a convolution winograd16::fits(), x not a CPU
  /// float tensor, winograd16::available() false): the caller runs conv_bn().
  torch::Tensor conv_bn_relu16(const torch::Tensor& x, torch::nn::Conv2d& conv,
                               torch::nn::BatchNorm2d& bn, const torch::Tensor& residual);
  /// Drops every folded pair (the next eval pass folds again).
  void clear();

 private:
  struct Folded {
    /// Copies of conv's weight (and bias), bn's weight, bias, running mean and variance.
    std::vector<torch::Tensor> sources;
    double eps = 0;
    torch::Tensor weight, bias;
    /// The folded weight reordered once into oneDNN's blocked layout, for
    /// inputs in that layout (Backbone::blocked_inference); made on first use.
    torch::Tensor blocked_weight;
    /// The folded weight's Winograd transform ([36, 16, 16]) for
    /// conv_bn_relu16; made on first use.
    torch::Tensor winograd16;
  };
  /// The folded pair, computed or refreshed (see conv_bn()).
  Folded& fold(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn);
  /// fold() where conv_bn() folds (eval mode, gradients off, running
  /// statistics, zero padding); nullptr elsewhere.
  Folded* foldable(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn);
  std::unordered_map<const torch::nn::Conv2dImpl*, Folded> folded_;
};

/// Option-A basic blocks (ResNet-32) and conv-ReLU-pool stages (cnn28) run
/// straight on oneDNN for inference, in its blocked layout with Winograd
/// convolutions where they pay (native/src/infer_dnnl.cpp; builds with
/// oneDNN's headers only).
class DnnlBlocks {
 public:
  /// A block's folded convolutions (3x3, padding 1): relu(conv2(relu(conv1(x))) + shortcut(x)).
  struct Block {
    torch::Tensor w1, b1, w2, b2;
    int64_t stride = 1;
    /// Option A: zero channels on each side of the subsampled input (0: the identity).
    int64_t pad_channels = 0;
  };
  /// The blocks in turn on `x` (CPU float [N, C, H, W]), the result
  /// channels-last; an undefined tensor where this build or oneDNN cannot
  /// (the caller then runs its own path).
  torch::Tensor run(const torch::Tensor& x, const std::vector<Block>& blocks);
  /// A folded 3x3 convolution (padding 1), its ReLU, then 2x2 max pooling.
  struct ConvPool {
    torch::Tensor w, b;
  };
  /// The stages in turn on `x` (CPU float [N, C, H, W], blocked or not),
  /// the result NCHW; undefined where this build or oneDNN cannot.
  torch::Tensor run_conv_pool(const torch::Tensor& x, const std::vector<ConvPool>& stages);
  /// Drops the primitives and reordered weights.
  void clear();
  /// Whether this build has the path (and LADE_DNNL is not 0).
  static bool available();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// conv(x) for training on oneDNN's Winograd kernels, forward and backward
/// (native/src/train_dnnl.cpp), where it pays and this build has them: a 3x3
/// convolution, stride 1, padding 1, no bias, 32 channels and more in whole
/// blocks of 16, CPU float, gradients on. Undefined elsewhere: the caller
/// runs conv->forward(x).
torch::Tensor winograd_train_conv(const torch::Tensor& x, torch::nn::Conv2d& conv);

/// Whether the Winograd convolutions may run (oneDNN's and lade's own):
/// LADE_WINOGRAD=0 keeps the direct ones (a check of the Winograd ones).
inline bool winograd_allowed() {
  const char* v = std::getenv("LADE_WINOGRAD");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

/// 3x3 convolutions (stride 1, padding 1) of 16, 32 or 64 channels in and
/// out, in whole AVX-512 registers of 16 channels, on lade's own Winograd
/// F(4x4, 3x3) kernel (native/src/winograd16.cpp): ResNet-32's stages in
/// inference, its 16- and 32-channel ones in training.
namespace winograd16 {
/// Whether this build has the kernel (x86-64, libtorch's OpenMP) and the CPU AVX-512F.
bool supported();
/// supported(), and LADE_WINOGRAD is not 0.
bool available();
/// Whether a convolution is one the kernel runs: C -> C channels (C = 16,
/// 32 or 64), 3x3, stride 1, padding 1 (zeros), no dilation, one group.
bool fits(const torch::nn::detail::ConvNdOptions<2>& options);
/// The [36, in, out] transform of an [out, in, 3, 3] weight (computed in double).
torch::Tensor transform_weight(const torch::Tensor& weight);
/// conv(x) + bias + residual, its ReLU where `relu` (bias, residual: none
/// when undefined), for x channels-last CPU float [N, C, H, W] (C = 16, 32
/// or 64) and `u` from transform_weight; the result channels-last. Throws
/// where !supported().
torch::Tensor conv(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias,
                   const torch::Tensor& residual, bool relu);
/// conv(x) for training (gradients on): a convolution that fits(), of 16 or
/// 32 channels and no bias, on this kernel forward and backward by data (the
/// flipped, transposed weight), libtorch's backward by weights; undefined
/// where that does not apply or !available().
torch::Tensor train_conv(const torch::Tensor& x, torch::nn::Conv2d& conv);
}  // namespace winograd16

/// A network from images [N, C, S, S] to features [N, feature_dim()].
struct Backbone : torch::nn::Module {
  /// Features of `x`. In eval mode with gradients off it runs under
  /// c10::InferenceMode with batch norms folded into their convolutions
  /// (BnFolds), and returns a normal tensor (a clone made outside inference
  /// mode) that later autograd may use, as temperature fitting does; in train
  /// mode or with gradients on it is the plain forward pass.
  torch::Tensor forward(torch::Tensor x);
  virtual int64_t feature_dim() const = 0;
  /// Experts (SADE's multi-expert networks): the features are the experts'
  /// feature vectors side by side, feature_dim() / experts() columns each,
  /// and the classifier puts one head on each.
  virtual int64_t experts() const { return 1; }
  /// Module::train(), and train mode drops the folded weights.
  void train(bool on = true) override;
  /// Whether inference runs in oneDNN's blocked layout (an opaque MKLDNN
  /// tensor from the input to the last convolution stage, weights reordered
  /// once): faster where the network is mostly 3x3 convolutions of 32 to 128
  /// channels with pooling (cnn28: 1.15x at one thread), slower for
  /// ResNet-32's 16-channel blocks, which stay channels-last. A backbone
  /// that says true must make its features dense (to_dense()) before any op
  /// that layout lacks (flatten, views, slices).
  virtual bool blocked_inference() const { return false; }
  /// The folded weights (the backbone's blocks run their pairs through it).
  BnFolds folds;
  /// oneDNN's own inference path, for backbones that use it (its primitives
  /// and reordered weights; dropped with the folds in train mode).
  DnnlBlocks dnnl;

 protected:
  /// The network itself; conv-BN pairs go through folds.conv_bn().
  virtual torch::Tensor features(torch::Tensor x) = 0;
};

/// `x` as a normal strided tensor (to_dense() of a blocked MKLDNN one).
inline torch::Tensor dense(const torch::Tensor& x) { return x.is_mkldnn() ? x.to_dense() : x; }

/// relu(out + other) into `out`, as one pass when gradients are not recorded
/// (inference: at::_add_relu_, the same values as the two ops); otherwise
/// the two in-place ops autograd knows.
inline torch::Tensor add_relu_(torch::Tensor& out, const torch::Tensor& other) {
  if (c10::InferenceMode::is_enabled() && !out.is_mkldnn() && !other.is_mkldnn()) {
    return at::_add_relu_(out, other);
  }
  out += other;
  return torch::relu_(out);
}

/// The 28-pixel CNN of the default run (5 layers: 3 conv + 2 linear).
std::shared_ptr<Backbone> make_cnn28(int64_t in_channels);
/// ResNet-32 for 32-pixel images (16/32/64 channels, 5 basic blocks a stage).
/// `two_branch`: the LADE/BBN variant whose last stage ends in two parallel
/// blocks whose pooled outputs are concatenated (128 features).
/// `projection`: 1x1-convolution shortcuts (option B) instead of the official
/// parameter-free option A.
std::shared_ptr<Backbone> make_resnet32(int64_t in_channels, bool two_branch, bool projection);
/// ImageNet-style networks for 224-pixel images: "resnet10", "resnet18", "resnet34", "resnet50",
/// "resnet101", "resnet152", "resnext50" (32x4d). Throws on another name.
std::shared_ptr<Backbone> make_resnet_imagenet(const std::string& name, int64_t in_channels);

// SADE's multi-expert networks (Zhang et al., NeurIPS 2022; the official
// code is Vanint/SADE-AgnosticLT): the early stages are shared, and each
// expert has its own last stages, narrowed as SADE's `reduce_dimension`
// narrows them (3/4 of the width). Features [N, experts * D].

/// cnn28 with three experts: shared stages 1-2; per expert, stage 3 (96
/// channels) and the hidden layer (192 units).
std::shared_ptr<Backbone> make_cnn28_experts(int64_t in_channels, int64_t experts);
/// ResNet-32 with three experts (SADE's expert_resnet_cifar.py): shared stem
/// and stage 1; per expert, stages 2 and 3 of 24 and 48 channels, option-A
/// shortcuts.
std::shared_ptr<Backbone> make_resnet32_experts(int64_t in_channels, int64_t experts);
/// The ImageNet networks with three experts (SADE's Expert_ResNet.py and
/// Expert_ResNeXt.py): shared stem and stages 1-2; per expert, stages 3 and 4
/// of 192 and 384 planes.
std::shared_ptr<Backbone> make_resnet_imagenet_experts(const std::string& name, int64_t in_channels,
                                                       int64_t experts);

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

/// Backbone + head, the module whose parameters the optimiser updates. A
/// backbone of E > 1 experts gets E heads (registered as head.0, head.1, ...),
/// and the logits are theirs side by side: [N, E * C].
struct Classifier : torch::nn::Module {
  Classifier(std::shared_ptr<Backbone> backbone, int64_t classes, bool cosine, double scale);
  /// Features [N, D] and logits [N, E * C].
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  /// The logits of features [N, D].
  torch::Tensor head_forward(const torch::Tensor& features);
  std::shared_ptr<Backbone> backbone;
  /// One expert: one of these two heads.
  torch::nn::Linear linear{nullptr};
  std::shared_ptr<CosineHead> cosine;
  /// Several experts: a head per expert, each a Linear or a CosineHead.
  torch::nn::ModuleList heads{nullptr};
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
