// ImageNet-style ResNets for 224-pixel images, as torchvision builds them:
// ResNet-10, -18 and -34 (basic blocks [1,1,1,1], [2,2,2,2], [3,4,6,3]),
// ResNet-50, -101 and -152 (bottlenecks
// [3,4,6,3], [3,4,23,3], [3,8,36,3]) and ResNeXt-50 32x4d (bottlenecks with
// 32 groups of width 4). A 7x7 stride-2 stem and 3x3 max pooling, four
// stages, global average pooling. Modules are registered in torchvision's
// order, so a state dict walks them in the same order (lib/weights maps the
// few names that differ: down_conv/down_bn are torchvision's downsample.0/.1).
#include "model_common.h"

namespace lade {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups = 1) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).groups(groups).bias(false));
}

/// Basic or bottleneck residual block; `expansion` is 1 or 4.
struct Block : nn::Module {
  /// `folds`: the owning backbone's (it outlives the block).
  Block(bool bottleneck, int64_t in, int64_t planes, int64_t stride, int64_t groups,
        int64_t base_width, BnFolds& folds)
      : bottleneck(bottleneck), folds(&folds) {
    const int64_t out = planes * (bottleneck ? 4 : 1);
    if (bottleneck) {
      const int64_t width = planes * base_width / 64 * groups;
      conv1 = register_module("conv1", conv(in, width, 1, 1));
      bn1 = register_module("bn1", nn::BatchNorm2d(width));
      conv2 = register_module("conv2", conv(width, width, 3, stride, groups));
      bn2 = register_module("bn2", nn::BatchNorm2d(width));
      conv3 = register_module("conv3", conv(width, out, 1, 1));
      bn3 = register_module("bn3", nn::BatchNorm2d(out));
    } else {
      conv1 = register_module("conv1", conv(in, planes, 3, stride));
      bn1 = register_module("bn1", nn::BatchNorm2d(planes));
      conv2 = register_module("conv2", conv(planes, planes, 3, 1));
      bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    }
    if (stride != 1 || in != out) {
      down_conv = register_module("down_conv", conv(in, out, 1, stride));
      down_bn = register_module("down_bn", nn::BatchNorm2d(out));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    // In-place ReLUs and sum as torchvision's blocks: batch norm's and the
    // sum's backward passes do not need their outputs.
    auto out = folds->conv_bn(x, conv1, bn1).relu_();
    out = folds->conv_bn(out, conv2, bn2);
    if (bottleneck) out = folds->conv_bn(torch::relu_(out), conv3, bn3);
    auto identity = down_conv ? folds->conv_bn(x, down_conv, down_bn) : x;
    return add_relu_(out, identity);
  }

  bool bottleneck;
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, down_conv{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr}, down_bn{nullptr};
  BnFolds* folds;
};

struct ResNet : Backbone {
  ResNet(bool bottleneck, std::vector<int> layers, int64_t groups, int64_t base_width,
         int64_t in_channels)
      : out_features(512 * (bottleneck ? 4 : 1)) {
    conv1 = register_module("conv1", conv(in_channels, 64, 7, 2));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      const int64_t planes = 64 << s;
      for (int b = 0; b < layers[s]; ++b) {
        stages[s]->push_back(std::make_shared<Block>(
            bottleneck, in, planes, (b == 0 && s > 0) ? 2 : 1, groups, base_width, folds));
        in = planes * (bottleneck ? 4 : 1);
      }
      register_module("layer" + std::to_string(s + 1), stages[s]);
    }
    init_resnet_weights(*this);
  }

  torch::Tensor features(torch::Tensor x) override {
    x = folds.conv_bn(x, conv1, bn1).relu_();
    x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& stage : stages) x = stage->forward(x);
    return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  }

  int64_t feature_dim() const override { return out_features; }

  int64_t out_features;
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential stages[4];
};

/// Blocks of one stage, from `in` channels (updated to the stage's output).
nn::Sequential imagenet_stage(bool bottleneck, int64_t& in, int64_t planes, int blocks,
                              int64_t stride, int64_t groups, int64_t base_width, BnFolds& folds) {
  nn::Sequential stage;
  for (int b = 0; b < blocks; ++b) {
    stage->push_back(std::make_shared<Block>(bottleneck, in, planes, b == 0 ? stride : 1, groups,
                                             base_width, folds));
    in = planes * (bottleneck ? 4 : 1);
  }
  return stage;
}

/// One expert of the ImageNet SADE networks: stages 3 and 4 of its own
/// (`planes3`, `planes4` planes), pooled.
struct ImagenetExpert : nn::Module {
  ImagenetExpert(bool bottleneck, int64_t in, const std::vector<int>& layers, int64_t groups,
                 int64_t base_width, int64_t planes3, int64_t planes4, BnFolds& folds) {
    layer3 = register_module(
        "layer3", imagenet_stage(bottleneck, in, planes3, layers[2], 2, groups, base_width, folds));
    layer4 = register_module(
        "layer4", imagenet_stage(bottleneck, in, planes4, layers[3], 2, groups, base_width, folds));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    return torch::adaptive_avg_pool2d(layer4->forward(layer3->forward(x)), {1, 1}).flatten(1);
  }

  nn::Sequential layer3{nullptr}, layer4{nullptr};
};

/// SADE's ImageNet networks (Vanint/SADE-AgnosticLT, model/fb_resnets/
/// Expert_ResNet.py and Expert_ResNeXt.py): the stem and stages 1-2 shared,
/// then per expert stages 3 and 4 (share_layer3 false) of 192 and 384 planes
/// with reduce_dimension (ImageNet-LT, iNaturalist), or of the single
/// network's 256 and 512 without it (`full_width`: Places-LT's ResNet-152);
/// fan-out Kaiming-normal convolutions, as theirs.
struct ExpertResNet : Backbone {
  ExpertResNet(bool bottleneck, std::vector<int> layers, int64_t groups, int64_t base_width,
               int64_t in_channels, int64_t experts, bool full_width = false)
      : n_experts(experts), expert_features((full_width ? 512 : 384) * (bottleneck ? 4 : 1)) {
    conv1 = register_module("conv1", conv(in_channels, 64, 7, 2));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    int64_t in = 64;
    layer1 = register_module(
        "layer1", imagenet_stage(bottleneck, in, 64, layers[0], 1, groups, base_width, folds));
    layer2 = register_module(
        "layer2", imagenet_stage(bottleneck, in, 128, layers[1], 2, groups, base_width, folds));
    branches = register_module("experts", nn::ModuleList());
    const int64_t planes3 = full_width ? 256 : 192, planes4 = full_width ? 512 : 384;
    for (int64_t e = 0; e < experts; ++e) {
      branches->push_back(std::make_shared<ImagenetExpert>(bottleneck, in, layers, groups,
                                                           base_width, planes3, planes4, folds));
    }
    init_resnet_weights(*this);
  }

  torch::Tensor features(torch::Tensor x) override {
    x = folds.conv_bn(x, conv1, bn1).relu_();
    x = layer2->forward(layer1->forward(torch::max_pool2d(x, 3, 2, 1)));
    std::vector<torch::Tensor> features;
    for (const auto& branch : *branches) {
      features.push_back(branch->as<ImagenetExpert>()->forward(x));
    }
    return torch::cat(features, 1);
  }

  int64_t feature_dim() const override { return n_experts * expert_features; }
  int64_t experts() const override { return n_experts; }

  int64_t n_experts;
  int64_t expert_features;
  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::Sequential layer1{nullptr}, layer2{nullptr};
  nn::ModuleList branches{nullptr};
};

}  // namespace

std::shared_ptr<Backbone> make_resnet_imagenet_experts(const std::string& name, int64_t in_channels,
                                                       int64_t experts) {
  if (name == "resnet10")
    return std::make_shared<ExpertResNet>(false, std::vector<int>{1, 1, 1, 1}, 1, 64, in_channels,
                                          experts);
  if (name == "resnet50")
    return std::make_shared<ExpertResNet>(true, std::vector<int>{3, 4, 6, 3}, 1, 64, in_channels,
                                          experts);
  if (name == "resnext50")
    return std::make_shared<ExpertResNet>(true, std::vector<int>{3, 4, 6, 3}, 32, 4, in_channels,
                                          experts);
  // SADE's Places-LT network: reduce_dimension false, so its experts can
  // start from an ImageNet ResNet-152's stages 3 and 4.
  if (name == "resnet152")
    return std::make_shared<ExpertResNet>(true, std::vector<int>{3, 8, 36, 3}, 1, 64, in_channels,
                                          experts, /*full_width=*/true);
  throw std::invalid_argument("unknown ImageNet architecture '" + name + "'");
}

std::shared_ptr<Backbone> make_resnet_imagenet(const std::string& name, int64_t in_channels) {
  if (name == "resnet10")
    return std::make_shared<ResNet>(false, std::vector<int>{1, 1, 1, 1}, 1, 64, in_channels);
  if (name == "resnet18")
    return std::make_shared<ResNet>(false, std::vector<int>{2, 2, 2, 2}, 1, 64, in_channels);
  if (name == "resnet34")
    return std::make_shared<ResNet>(false, std::vector<int>{3, 4, 6, 3}, 1, 64, in_channels);
  if (name == "resnet50")
    return std::make_shared<ResNet>(true, std::vector<int>{3, 4, 6, 3}, 1, 64, in_channels);
  if (name == "resnet101")
    return std::make_shared<ResNet>(true, std::vector<int>{3, 4, 23, 3}, 1, 64, in_channels);
  if (name == "resnet152")
    return std::make_shared<ResNet>(true, std::vector<int>{3, 8, 36, 3}, 1, 64, in_channels);
  if (name == "resnext50")
    return std::make_shared<ResNet>(true, std::vector<int>{3, 4, 6, 3}, 32, 4, in_channels);
  throw std::invalid_argument("unknown ImageNet architecture '" + name + "'");
}

void init_resnet_weights(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& module : m.modules(/*include_self=*/false)) {
    if (auto* c = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    }
  }
}

}  // namespace lade
