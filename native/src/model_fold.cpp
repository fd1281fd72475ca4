// Inference with batch norms folded into their convolutions, and the
// backbones' forward pass that chooses it (declared in model_common.h).
//
// In eval mode a batch norm is a per-channel affine map of its input, so
// bn(conv(x)) is one convolution with rescaled weights and a bias: for output
// channel c, s_c = gamma_c / sqrt(running_var_c + eps),
//   weight'_c = weight_c * s_c,   bias'_c = beta_c - running_mean_c * s_c (+ bias_c * s_c).
// That saves a full pass over every activation (read and write) per layer,
// and the convolution adds the bias in its own output loop. The folding is
// computed in double precision and rounded once to the weights' type.
#include <c10/core/InferenceMode.h>

#include "model_common.h"

namespace lade {

namespace {

/// The source tensors of a conv-BN pair, in a fixed order (undefined ones skipped).
std::vector<torch::Tensor> fold_sources(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn) {
  std::vector<torch::Tensor> out;
  for (const auto* t :
       {&conv->weight, &conv->bias, &bn->weight, &bn->bias, &bn->running_mean, &bn->running_var}) {
    if (t->defined()) out.push_back(*t);
  }
  return out;
}

}  // namespace

BnFolds::Folded* BnFolds::foldable(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn) {
  const bool eval = !bn->is_training() && !torch::GradMode::is_enabled() &&
                    bn->options.track_running_stats() && bn->running_mean.defined() &&
                    torch::enumtype::get_enum_name(conv->options.padding_mode()) == "kZeros";
  return eval ? &fold(conv, bn) : nullptr;
}

bool BnFolds::folded(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, torch::Tensor& weight,
                     torch::Tensor& bias) {
  const auto* f = foldable(conv, bn);
  if (f == nullptr) return false;
  weight = f->weight;
  bias = f->bias;
  return true;
}

BnFolds::Folded& BnFolds::fold(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn) {
  auto sources = fold_sources(conv, bn);
  auto& f = folded_[conv.get()];
  bool fresh =
      f.weight.defined() && f.sources.size() == sources.size() && f.eps == bn->options.eps();
  for (size_t i = 0; fresh && i < sources.size(); ++i) {
    const auto& t = sources[i];
    const auto& copy = f.sources[i];
    fresh = t.device() == copy.device() && t.scalar_type() == copy.scalar_type() &&
            t.sizes() == copy.sizes() && torch::equal(t, copy);
  }
  if (!fresh) {
    torch::NoGradGuard no_grad;
    const auto& w = conv->weight;
    auto scale = (bn->running_var.to(torch::kFloat64) + bn->options.eps()).rsqrt();
    if (bn->weight.defined()) scale = scale * bn->weight.to(torch::kFloat64);
    auto bias = -bn->running_mean.to(torch::kFloat64) * scale;
    if (bn->bias.defined()) bias = bias + bn->bias.to(torch::kFloat64);
    if (conv->bias.defined()) bias = bias + conv->bias.to(torch::kFloat64) * scale;
    // empty_like keeps the weight's strides (channels-last on the CPU).
    f.weight = torch::empty_like(w);
    f.weight.copy_(w.to(torch::kFloat64) * scale.view({-1, 1, 1, 1}));
    f.bias = bias.to(w.scalar_type());
    f.eps = bn->options.eps();
    f.blocked_weight = torch::Tensor();
    f.winograd16 = torch::Tensor();
    f.sources.clear();
    for (const auto& t : sources) f.sources.push_back(t.detach().clone());
  }
  return f;
}

torch::Tensor BnFolds::conv_bn(const torch::Tensor& x, torch::nn::Conv2d& conv,
                               torch::nn::BatchNorm2d& bn) {
  const auto& co = conv->options;
  auto* pair = foldable(conv, bn);
  if (pair == nullptr) {
    // Training: the wider 3x3 convolutions on Winograd's kernels where they can.
    const auto in = dense(x);
    auto y = winograd16::train_conv(in, conv);
    if (!y.defined()) y = winograd_train_conv(in, conv);
    return bn->forward(y.defined() ? y : conv->forward(in));
  }
  auto& f = *pair;
  // A blocked (MKLDNN) input: the folded weight reordered once into the
  // layout oneDNN chose for it, and the output stays blocked.
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&co.padding());
  if (x.is_mkldnn() && padding) {
    if (!f.blocked_weight.defined()) {
      f.blocked_weight = at::mkldnn_reorder_conv2d_weight(
          f.weight.contiguous().to_mkldnn(), *padding, co.stride(), co.dilation(), co.groups());
    }
    return at::mkldnn_convolution(x, f.blocked_weight, f.bias, *padding, co.stride(), co.dilation(),
                                  co.groups());
  }
  namespace F = torch::nn::functional;
  return F::conv2d(dense(x), f.weight,
                   F::Conv2dFuncOptions()
                       .bias(f.bias)
                       .stride(co.stride())
                       .padding(co.padding())
                       .dilation(co.dilation())
                       .groups(co.groups()));
}

torch::Tensor BnFolds::conv_bn_relu16(const torch::Tensor& x, torch::nn::Conv2d& conv,
                                      torch::nn::BatchNorm2d& bn, const torch::Tensor& residual) {
  if (!winograd16::fits(conv->options) || x.dim() != 4 || x.is_mkldnn() || !x.device().is_cpu() ||
      x.scalar_type() != torch::kFloat || !winograd16::available()) {
    return torch::Tensor();
  }
  auto* f = foldable(conv, bn);
  if (f == nullptr) return torch::Tensor();
  if (!f->winograd16.defined()) f->winograd16 = winograd16::transform_weight(f->weight);
  const auto cl = at::MemoryFormat::ChannelsLast;
  return winograd16::conv(x.contiguous(cl), f->winograd16, f->bias.contiguous(),
                          residual.defined() ? residual.contiguous(cl) : residual, /*relu=*/true);
}

void BnFolds::clear() { folded_.clear(); }

torch::Tensor Backbone::forward(torch::Tensor x) {
  if (is_training() || torch::GradMode::is_enabled() || c10::InferenceMode::is_enabled()) {
    return features(std::move(x));
  }
  torch::Tensor out;
  {
    c10::InferenceMode inference;
    if (blocked_inference() && x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
        x.dim() == 4) {
      x = x.to_mkldnn();
    }
    out = dense(features(std::move(x)));
  }
  // An inference tensor cannot be saved for backward; a clone made here can.
  return out.clone();
}

void Backbone::train(bool on) {
  torch::nn::Module::train(on);
  if (on) {
    folds.clear();
    dnnl.clear();
  }
}

}  // namespace lade
