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
    for (int i = 0; i < 3; ++i) {
      // relu(maxpool(x)) equals maxpool(relu(x)) and touches a quarter of the
      // values; in place, since neither maxpool's nor linear's backward needs
      // its output.
      x = torch::max_pool2d(folds.conv_bn(x, convs[i], bns[i]), 2).relu_();
    }
    // The flattening assumes 28-pixel inputs (3x3 after three poolings).
    return fc->forward(x.flatten(1)).relu_();
  }

  int64_t feature_dim() const override { return 256; }

  nn::Conv2d convs[3] = {nullptr, nullptr, nullptr};
  nn::BatchNorm2d bns[3] = {nullptr, nullptr, nullptr};
  nn::Linear fc{nullptr};
};

}  // namespace

std::shared_ptr<Backbone> make_cnn28(int64_t in_channels) {
  return std::make_shared<Cnn28>(in_channels);
}

}  // namespace lade
