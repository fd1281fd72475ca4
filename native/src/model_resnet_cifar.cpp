// ResNet-32 for 32-pixel images (CIFAR): a 3x3 stem of 16 channels, three
// stages of 5 basic blocks (16, 32, 64 channels; the last two halve the
// resolution), global average pooling. Where the shape changes, the official
// network (hyperconnect/LADE, models/ResNet32Feature.py, from BBN) uses
// option-A shortcuts: no parameters, the input subsampled by 2 and its
// channels zero-padded (planes / 4 on each side); its convolutions start
// from Kaiming-normal weights (fan-in). `resnet32` and `resnet32-2branch` are
// that network; the `-proj` variants use 1x1-convolution projections with
// batch norm instead (torchvision's option B) and fan-out initialisation.
//
// The two-branch variant (LADE's recipe, from BBN) replaces the last block of
// the third stage with two parallel blocks; each is pooled and the two
// 64-vectors are concatenated into 128 features.
#include "model_common.h"

namespace lade {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

struct BasicBlock : nn::Module {
  /// `folds`: the owning backbone's (it outlives the block).
  BasicBlock(int64_t in, int64_t out, int64_t stride, bool projection, BnFolds& folds)
      : folds(&folds) {
    conv1 = register_module("conv1", conv3x3(in, out, stride));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module("conv2", conv3x3(out, out, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      if (projection) {
        down_conv = register_module(
            "down_conv", nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
        down_bn = register_module("down_bn", nn::BatchNorm2d(out));
      } else {
        // Option A, as the official code: x[:, :, ::2, ::2], then
        // (out - in) / 2 zero channels on each side (out / 4 where a stage
        // doubles the width; SADE's narrowed experts go 16 -> 24 -> 48).
        pad_channels = (out - in) / 2;
        subsample = true;
      }
    }
  }

  /// The shortcut branch of `x`.
  torch::Tensor shortcut(const torch::Tensor& x) {
    if (down_conv) return folds->conv_bn(x, down_conv, down_bn);
    if (!subsample) return x;
    using torch::indexing::None;
    using torch::indexing::Slice;
    auto sub = x.index({Slice(), Slice(), Slice(None, None, 2), Slice(None, None, 2)});
    // Zero channels each side, written in x's memory format: constant_pad_nd
    // returns NCHW, and adding that to the channels-last block output (and
    // its backward) converted layouts at every downsampling block.
    auto out = torch::zeros({sub.size(0), sub.size(1) + 2 * pad_channels, sub.size(2), sub.size(3)},
                            sub.options().memory_format(x.suggest_memory_format()));
    out.narrow(1, pad_channels, sub.size(1)).copy_(sub);
    return out;
  }

  torch::Tensor forward(const torch::Tensor& x) {
    if (!down_conv && c10::InferenceMode::is_enabled() && winograd16::available() &&
        winograd16::fits(conv2->options)) {
      // Inference on lade's Winograd kernel (16, 32 or 64 channels): the
      // second convolution adds the shortcut and takes the ReLU; the first
      // of a stage (stride 2) stays libtorch's.
      auto t = folds->conv_bn_relu16(x, conv1, bn1, torch::Tensor());
      if (!t.defined()) t = folds->conv_bn(x, conv1, bn1).relu_();
      const auto residual = subsample ? shortcut(x) : x;
      auto y = folds->conv_bn_relu16(t, conv2, bn2, residual);
      if (y.defined()) return y;
      y = folds->conv_bn(t, conv2, bn2);
      return add_relu_(y, residual);
    }
    // In-place ReLUs and sum as torchvision's blocks: batch norm's and the
    // sum's backward passes do not need their outputs.
    auto out = folds->conv_bn(x, conv1, bn1).relu_();
    out = folds->conv_bn(out, conv2, bn2);
    if (subsample && c10::InferenceMode::is_enabled()) {
      // Inference: the subsampled input added to the channels it lands on,
      // with no zero-padded copy (adding zeros leaves the others as they are).
      using torch::indexing::None;
      using torch::indexing::Slice;
      auto sub = x.index({Slice(), Slice(), Slice(None, None, 2), Slice(None, None, 2)});
      out.narrow(1, pad_channels, sub.size(1)).add_(sub);
      return torch::relu_(out);
    }
    return add_relu_(out, shortcut(x));
  }

  nn::Conv2d conv1{nullptr}, conv2{nullptr}, down_conv{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, down_bn{nullptr};
  bool subsample = false;
  int64_t pad_channels = 0;
  BnFolds* folds;
};

struct ResNet32 : Backbone {
  ResNet32(int64_t in_channels, bool two_branch, bool projection) : two_branch(two_branch) {
    conv1 = register_module("conv1", conv3x3(in_channels, 16, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(16));
    const int64_t widths[3] = {16, 32, 64};
    int64_t in = 16;
    for (int s = 0; s < 3; ++s) {
      // The two-branch variant builds the last block of stage 3 twice, in parallel.
      const int blocks = (two_branch && s == 2) ? 4 : 5;
      for (int b = 0; b < blocks; ++b) {
        auto block = std::make_shared<BasicBlock>(in, widths[s], (b == 0 && s > 0) ? 2 : 1,
                                                  projection, folds);
        stages[s]->push_back(block);
        in = widths[s];
      }
      register_module("layer" + std::to_string(s + 1), stages[s]);
    }
    if (two_branch) {
      cb_block =
          register_module("cb_block", std::make_shared<BasicBlock>(64, 64, 1, projection, folds));
      rb_block =
          register_module("rb_block", std::make_shared<BasicBlock>(64, 64, 1, projection, folds));
    }
    if (projection) {
      init_resnet_weights(*this);
    } else {
      // The official _weights_init: kaiming_normal_ (fan-in) of every
      // convolution; batch norm keeps its defaults (weight 1, bias 0).
      torch::NoGradGuard no_grad;
      for (auto& module : modules(/*include_self=*/false)) {
        if (auto* c = module->as<nn::Conv2d>()) {
          nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanIn, torch::kReLU);
        }
      }
    }
  }

  torch::Tensor features(torch::Tensor x) override {
    x = folds.conv_bn(x, conv1, bn1).relu_();
    x = stages[0]->forward(x);
    // Inference on the CPU: the 32- and 64-channel stages on oneDNN directly
    // where this build has it (DnnlBlocks), else through libtorch.
    // lade's Winograd kernel, where it runs, is faster still (BasicBlock::forward).
    auto fast = c10::InferenceMode::is_enabled() && !winograd16::available() ? dnnl_stages(x)
                                                                             : torch::Tensor();
    if (fast.defined()) {
      x = fast;
    } else {
      for (int s = 1; s < 3; ++s) x = stages[s]->forward(x);
    }
    if (!two_branch) return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    auto a = torch::adaptive_avg_pool2d(cb_block->forward(x), {1, 1}).flatten(1);
    auto b = torch::adaptive_avg_pool2d(rb_block->forward(x), {1, 1}).flatten(1);
    return torch::cat({a, b}, 1);
  }

  int64_t feature_dim() const override { return two_branch ? 128 : 64; }

  /// Stages 2 and 3 of `x` through DnnlBlocks, or undefined (option-B
  /// projections, a model not folded, a build without oneDNN: libtorch's path).
  torch::Tensor dnnl_stages(const torch::Tensor& x) {
    if (!DnnlBlocks::available() || !x.device().is_cpu()) return torch::Tensor();
    std::vector<DnnlBlocks::Block> blocks;
    for (int s = 1; s < 3; ++s) {
      for (const auto& m : stages[s]->children()) {
        auto* b = m->as<BasicBlock>();
        if (b == nullptr || b->down_conv) return torch::Tensor();
        DnnlBlocks::Block d;
        if (!folds.folded(b->conv1, b->bn1, d.w1, d.b1) ||
            !folds.folded(b->conv2, b->bn2, d.w2, d.b2)) {
          return torch::Tensor();
        }
        d.stride = b->conv1->options.stride()->at(0);
        d.pad_channels = b->subsample ? b->pad_channels : 0;
        blocks.push_back(std::move(d));
      }
    }
    return dnnl.run(x, blocks);
  }

  bool two_branch;
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential stages[3];
  std::shared_ptr<BasicBlock> cb_block, rb_block;
};

/// A stage of `blocks` option-A basic blocks from `in` to `out` channels.
nn::Sequential cifar_stage(int64_t in, int64_t out, int64_t stride, int blocks, BnFolds& folds) {
  nn::Sequential stage;
  for (int b = 0; b < blocks; ++b) {
    stage->push_back(std::make_shared<BasicBlock>(b == 0 ? in : out, out, b == 0 ? stride : 1,
                                                  /*projection=*/false, folds));
  }
  return stage;
}

/// One expert of resnet32-sade: stages 2 and 3 of its own, pooled.
struct CifarExpert : nn::Module {
  CifarExpert(int64_t in, int64_t width2, int64_t width3, BnFolds& folds) {
    layer2 = register_module("layer2", cifar_stage(in, width2, 2, 5, folds));
    layer3 = register_module("layer3", cifar_stage(width2, width3, 2, 5, folds));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    return torch::adaptive_avg_pool2d(layer3->forward(layer2->forward(x)), {1, 1}).flatten(1);
  }

  nn::Sequential layer2{nullptr}, layer3{nullptr};
};

/// resnet32-sade, SADE's CIFAR network (Vanint/SADE-AgnosticLT,
/// model/ldam_drw_resnets/expert_resnet_cifar.py with reduce_dimension):
/// the stem and stage 1 (16 channels) shared, then per expert stages 2 and
/// 3 of 24 and 48 channels; option-A shortcuts and fan-in Kaiming-normal
/// convolutions, as the official ResNet-32.
struct ResNet32Experts : Backbone {
  ResNet32Experts(int64_t in_channels, int64_t experts) : n_experts(experts) {
    conv1 = register_module("conv1", conv3x3(in_channels, 16, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(16));
    layer1 = register_module("layer1", cifar_stage(16, 16, 1, 5, folds));
    branches = register_module("experts", nn::ModuleList());
    for (int64_t e = 0; e < experts; ++e) {
      branches->push_back(std::make_shared<CifarExpert>(16, 24, kWidth, folds));
    }
    torch::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* c = module->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanIn, torch::kReLU);
      }
    }
  }

  torch::Tensor features(torch::Tensor x) override {
    x = layer1->forward(folds.conv_bn(x, conv1, bn1).relu_());
    std::vector<torch::Tensor> features;
    for (const auto& branch : *branches) features.push_back(branch->as<CifarExpert>()->forward(x));
    return torch::cat(features, 1);
  }

  int64_t feature_dim() const override { return n_experts * kWidth; }
  int64_t experts() const override { return n_experts; }

  static constexpr int64_t kWidth = 48;
  int64_t n_experts;
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential layer1{nullptr};
  nn::ModuleList branches{nullptr};
};

}  // namespace

std::shared_ptr<Backbone> make_resnet32(int64_t in_channels, bool two_branch, bool projection) {
  return std::make_shared<ResNet32>(in_channels, two_branch, projection);
}

std::shared_ptr<Backbone> make_resnet32_experts(int64_t in_channels, int64_t experts) {
  return std::make_shared<ResNet32Experts>(in_channels, experts);
}

}  // namespace lade
