// The compact CNN of the default run (28-pixel grayscale images such as
// Fashion-MNIST): three conv-BN-ReLU-maxpool stages (32, 64, 128 channels,
// 28 -> 14 -> 7 -> 3 pixels) and a hidden linear layer of 256 units. Small
// enough that 12 epochs of Fashion-MNIST-LT take minutes on two cores.
#include "model_common.h"

namespace lade {
namespace {

namespace nn = torch::nn;

struct Cnn28 : Backbone {
  explicit Cnn28(int64_t in_channels) {
    const int64_t widths[3] = {32, 64, 128};
    int64_t in = in_channels;
    for (int i = 0; i < 3; ++i) {
      convs[i] =
          register_module("conv" + std::to_string(i + 1),
                          nn::Conv2d(nn::Conv2dOptions(in, widths[i], 3).padding(1).bias(false)));
      bns[i] = register_module("bn" + std::to_string(i + 1), nn::BatchNorm2d(widths[i]));
      in = widths[i];
    }
    fc = register_module("fc", nn::Linear(128 * 3 * 3, 256));
  }

  torch::Tensor features(torch::Tensor x) override {
    // Inference on the CPU: the three stages on oneDNN directly where this
    // build has it (Winograd for the 32- and 64-channel inputs).
    auto fast = c10::InferenceMode::is_enabled() ? dnnl_stages(x) : torch::Tensor();
    if (fast.defined()) {
      x = fast;
    } else {
      for (int i = 0; i < 3; ++i) {
        // relu(maxpool(x)) equals maxpool(relu(x)) and touches a quarter of the
        // values; in place, since neither maxpool's nor linear's backward needs
        // its output.
        x = torch::max_pool2d(folds.conv_bn(x, convs[i], bns[i]), 2).relu_();
      }
    }
    // The flattening assumes 28-pixel inputs (3x3 after three poolings).
    return fc->forward(dense(x).flatten(1)).relu_();
  }

  /// The three conv-BN-pool-ReLU stages through DnnlBlocks, or undefined.
  torch::Tensor dnnl_stages(const torch::Tensor& x) {
    if (!DnnlBlocks::available() || !x.device().is_cpu()) return torch::Tensor();
    std::vector<DnnlBlocks::ConvPool> stages(3);
    for (int i = 0; i < 3; ++i) {
      if (!folds.folded(convs[i], bns[i], stages[i].w, stages[i].b)) return torch::Tensor();
    }
    return dnnl.run_conv_pool(x, stages);
  }

  int64_t feature_dim() const override { return 256; }
  // oneDNN's own path takes the plain input (no blocked copy made first).
  bool blocked_inference() const override { return !DnnlBlocks::available(); }

  nn::Conv2d convs[3] = {nullptr, nullptr, nullptr};
  nn::BatchNorm2d bns[3] = {nullptr, nullptr, nullptr};
  nn::Linear fc{nullptr};
};

/// One expert of cnn28-sade: a third stage and a hidden layer of its own.
struct Cnn28Expert : nn::Module {
  /// `folds`: the owning backbone's (it outlives the expert).
  Cnn28Expert(int64_t in, int64_t width, int64_t hidden, BnFolds& folds) : folds(&folds) {
    conv = register_module("conv3",
                           nn::Conv2d(nn::Conv2dOptions(in, width, 3).padding(1).bias(false)));
    bn = register_module("bn3", nn::BatchNorm2d(width));
    fc = register_module("fc", nn::Linear(width * 3 * 3, hidden));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::max_pool2d(folds->conv_bn(x, conv, bn), 2).relu_();
    return fc->forward(dense(y).flatten(1)).relu_();
  }

  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
  nn::Linear fc{nullptr};
  BnFolds* folds;
};

/// cnn28-sade: cnn28's first two stages shared, then an expert per branch
/// whose stage 3 and hidden layer are 3/4 as wide as cnn28's (96 channels,
/// 192 units), as SADE's `reduce_dimension` narrows its experts' stages
/// (Vanint/SADE-AgnosticLT, model/ldam_drw_resnets/expert_resnet_cifar.py:
/// 24 and 48 channels instead of 32 and 64).
struct Cnn28Experts : Backbone {
  Cnn28Experts(int64_t in_channels, int64_t experts) : n_experts(experts) {
    const int64_t widths[2] = {32, 64};
    int64_t in = in_channels;
    for (int i = 0; i < 2; ++i) {
      convs[i] =
          register_module("conv" + std::to_string(i + 1),
                          nn::Conv2d(nn::Conv2dOptions(in, widths[i], 3).padding(1).bias(false)));
      bns[i] = register_module("bn" + std::to_string(i + 1), nn::BatchNorm2d(widths[i]));
      in = widths[i];
    }
    branches = register_module("experts", nn::ModuleList());
    for (int64_t e = 0; e < experts; ++e) {
      branches->push_back(std::make_shared<Cnn28Expert>(64, kWidth, kHidden, folds));
    }
  }

  torch::Tensor features(torch::Tensor x) override {
    for (int i = 0; i < 2; ++i) {
      x = torch::max_pool2d(folds.conv_bn(x, convs[i], bns[i]), 2).relu_();
    }
    std::vector<torch::Tensor> features;
    for (const auto& branch : *branches) features.push_back(branch->as<Cnn28Expert>()->forward(x));
    return torch::cat(features, 1);
  }

  int64_t feature_dim() const override { return n_experts * kHidden; }
  int64_t experts() const override { return n_experts; }
  bool blocked_inference() const override { return true; }

  static constexpr int64_t kWidth = 96;
  static constexpr int64_t kHidden = 192;
  int64_t n_experts;
  nn::Conv2d convs[2] = {nullptr, nullptr};
  nn::BatchNorm2d bns[2] = {nullptr, nullptr};
  nn::ModuleList branches{nullptr};
};

}  // namespace

std::shared_ptr<Backbone> make_cnn28(int64_t in_channels) {
  return std::make_shared<Cnn28>(in_channels);
}

std::shared_ptr<Backbone> make_cnn28_experts(int64_t in_channels, int64_t experts) {
  return std::make_shared<Cnn28Experts>(in_channels, experts);
}

}  // namespace lade
