// Training's 3x3 convolutions of 32 channels and more on oneDNN's Winograd
// kernels (jit_wino_4x3), forward and backward, as an autograd function.
//
// libtorch runs every training convolution on oneDNN's direct kernels
// (channels-last). For the wider 3x3, stride-1 layers Winograd needs fewer
// multiplications. Measured with oneDNN alone on a 2-core AVX-512 machine
// (ms for forward, backward by data and backward by weights together,
// direct channels-last -> Winograd): at batch 128, cnn28's 32->64 at 14
// pixels 5.1 -> 4.6 and its 64->128 at 7 pixels 4.9 -> 3.7, ResNet-32's
// 32-channel layers 3.3 -> 2.9 and its 64-channel ones 3.2 -> 2.0; at batch
// 32 and ImageNet sizes, ResNet's 64 channels at 56 pixels 47.6 -> 22.5 and
// 512 at 7 pixels 40.0 -> 24.3. Winograd's backward by weights loses below
// 64 input channels, so there the direct kernel runs on the channels-last
// tensors as libtorch's would; below 7 pixels Winograd loses altogether.
//
// The activations stay libtorch tensors (channels-last) between layers: each
// convolution reorders its input, output and gradients into oneDNN's
// 16-channel blocks and back (0.02 to 0.06 ms each at ResNet-32's sizes).
// Built with oneDNN's headers only (LADE_WITH_DNNL); LADE_WINOGRAD=0 or
// LADE_DNNL=0 keeps libtorch's convolutions; where oneDNN has no Winograd
// kernel (a CPU without AVX-512) libtorch's run.
#include <array>
#include <map>
#include <mutex>

#include "dnnl_common.h"
#include "model_common.h"

namespace lade {

#ifdef LADE_WITH_DNNL

namespace {

using dnnl::memory;
using dnnl_util::Buffer;
using dnnl_util::cpu_engine;
using dnnl_util::make_buffer;
using dnnl_util::run_with_scratchpad;
using dnnl_util::to_layout;
using dnnl_util::to_tensor;
using dnnl_util::user_scratchpad;
using dnnl_util::wrap_strided;
using dt = dnnl::memory::data_type;

/// The primitives of one convolution shape (batch, in, out, height, width).
struct WinogradPrimitives {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_data data;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_backward_weights weights;
  /// Whether the backward by weights is Winograd's (on the blocked source
  /// the forward pass keeps) or the direct one (on the channels-last tensors).
  bool winograd_weights = false;
};

/// (batch, in, out, height, width, threads): oneDNN sizes a primitive's
/// work split and scratchpad for the threads at its creation, and its
/// documentation asks for the same number when it runs.
using ShapeKey = std::array<int64_t, 6>;

ShapeKey shape_key(const std::vector<int64_t>& v) {
  return {v.at(0), v.at(1), v.at(2), v.at(3), v.at(4), v.at(5)};
}

/// The primitives for `key`, made on first use; nullptr where oneDNN has no
/// Winograd kernel for it (remembered: asked once).
std::shared_ptr<WinogradPrimitives> winograd_primitives(const ShapeKey& key) {
  static std::mutex mutex;
  static std::map<ShapeKey, std::shared_ptr<WinogradPrimitives>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const auto [n, in, out, h, w, threads] = key;
  (void)threads;
  const memory::dims src{n, in, h, w}, wei{out, in, 3, 3}, dst{n, out, h, w};
  const memory::dims strides{1, 1}, padding{1, 1};
  const auto any = memory::format_tag::any, nhwc = memory::format_tag::nhwc;
  std::shared_ptr<WinogradPrimitives> p;
  try {
    auto made = std::make_shared<WinogradPrimitives>();
    const auto wino = dnnl::algorithm::convolution_winograd;
    memory::desc src_any(src, dt::f32, any), wei_any(wei, dt::f32, any), dst_any(dst, dt::f32, any);
    dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, wino, src_any, wei_any,
                                       dst_any, strides, padding, padding);
    made->fwd_pd = dnnl::convolution_forward::primitive_desc(fd, user_scratchpad(), cpu_engine());
    made->fwd = dnnl::convolution_forward(made->fwd_pd);
    dnnl::convolution_backward_data::desc dd(wino, src_any, wei_any, dst_any, strides, padding,
                                             padding);
    made->data_pd = dnnl::convolution_backward_data::primitive_desc(dd, user_scratchpad(),
                                                                    cpu_engine(), made->fwd_pd);
    made->data = dnnl::convolution_backward_data(made->data_pd);
    // Winograd's backward by weights pays from 64 input channels (measured:
    // 0.88 against 1.02 ms at 64, 1.29 against 1.09 ms at 32).
    made->winograd_weights = in >= 64;
    if (made->winograd_weights) {
      dnnl::convolution_backward_weights::desc wd(wino, src_any, wei_any, dst_any, strides, padding,
                                                  padding);
      made->weights_pd = dnnl::convolution_backward_weights::primitive_desc(
          wd, user_scratchpad(), cpu_engine(), made->fwd_pd);
    } else {
      const auto direct = dnnl::algorithm::convolution_direct;
      memory::desc src_nhwc(src, dt::f32, nhwc), dst_nhwc(dst, dt::f32, nhwc);
      dnnl::convolution_forward::desc hint_d(dnnl::prop_kind::forward_training, direct, src_nhwc,
                                             wei_any, dst_nhwc, strides, padding, padding);
      dnnl::convolution_forward::primitive_desc hint(hint_d, cpu_engine());
      dnnl::convolution_backward_weights::desc wd(direct, src_nhwc, wei_any, dst_nhwc, strides,
                                                  padding, padding);
      made->weights_pd = dnnl::convolution_backward_weights::primitive_desc(wd, user_scratchpad(),
                                                                            cpu_engine(), hint);
    }
    made->weights = dnnl::convolution_backward_weights(made->weights_pd);
    p = made;
  } catch (const dnnl::error&) {
    p = nullptr;  // no Winograd kernel here: libtorch's convolution
  }
  // Each batch shape (and thread count) has its primitives and their
  // compiled kernels; a process that sees many starts again past 64.
  if (cache.size() >= 64) cache.clear();
  cache[key] = p;
  return p;
}

/// conv2d(x, weight, padding 1) on Winograd's kernels, with its backward.
struct WinogradConv : torch::autograd::Function<WinogradConv> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, const std::vector<int64_t>& key) {
    auto p = winograd_primitives(shape_key(key));
    if (!p) throw std::runtime_error("no Winograd convolution for this shape");
    dnnl::stream stream(cpu_engine());
    auto x = input.contiguous(at::MemoryFormat::ChannelsLast);
    Buffer src = to_layout(wrap_strided(x), p->fwd_pd.src_desc(), stream);
    Buffer wei = to_layout(wrap_strided(weight), p->fwd_pd.weights_desc(), stream);
    Buffer dst = make_buffer(p->fwd_pd.dst_desc());
    run_with_scratchpad(
        p->fwd, p->fwd_pd,
        {{DNNL_ARG_SRC, src.mem}, {DNNL_ARG_WEIGHTS, wei.mem}, {DNNL_ARG_DST, dst.mem}}, stream);
    auto y = to_tensor(dst, at::MemoryFormat::ChannelsLast, stream);
    // The backward by weights reads the source in the layout it was given
    // here (blocked for Winograd's, channels-last for the direct one).
    auto saved_src = p->winograd_weights ? src.storage : x;
    ctx->save_for_backward({saved_src, weight});
    ctx->saved_data["shape"] = key;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& saved_src = saved[0];
    const auto& weight = saved[1];
    // The shape's primitives for the threads of now (the count may have
    // changed since the forward pass; the layouts do not depend on it).
    auto key = ctx->saved_data["shape"].toIntVector();
    key.at(5) = at::get_num_threads();
    auto p = winograd_primitives(shape_key(key));
    if (!p) throw std::runtime_error("no Winograd convolution for the backward pass");
    dnnl::stream stream(cpu_engine());
    auto g = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    Buffer g_plain = wrap_strided(g);
    torch::Tensor grad_input, grad_weight;
    Buffer g_blocked;
    if (ctx->needs_input_grad(0)) {
      g_blocked = to_layout(g_plain, p->data_pd.diff_dst_desc(), stream);
      Buffer wei = to_layout(wrap_strided(weight), p->data_pd.weights_desc(), stream);
      Buffer diff_src = make_buffer(p->data_pd.diff_src_desc());
      run_with_scratchpad(p->data, p->data_pd,
                          {{DNNL_ARG_DIFF_DST, g_blocked.mem},
                           {DNNL_ARG_WEIGHTS, wei.mem},
                           {DNNL_ARG_DIFF_SRC, diff_src.mem}},
                          stream);
      grad_input = to_tensor(diff_src, at::MemoryFormat::ChannelsLast, stream);
    }
    if (ctx->needs_input_grad(1)) {
      const auto& wpd = p->weights_pd;
      Buffer held =
          p->winograd_weights
              ? Buffer{saved_src, memory(p->fwd_pd.src_desc(), cpu_engine(), saved_src.data_ptr())}
              : wrap_strided(saved_src);
      Buffer src = to_layout(held, wpd.src_desc(), stream);
      Buffer diff_dst =
          g_blocked.storage.defined() && g_blocked.mem.get_desc() == wpd.diff_dst_desc()
              ? g_blocked
              : to_layout(g_plain, wpd.diff_dst_desc(), stream);
      Buffer diff_wei = make_buffer(wpd.diff_weights_desc());
      run_with_scratchpad(p->weights, wpd,
                          {{DNNL_ARG_SRC, src.mem},
                           {DNNL_ARG_DIFF_DST, diff_dst.mem},
                           {DNNL_ARG_DIFF_WEIGHTS, diff_wei.mem}},
                          stream);
      // In the weight's own strides (channels-last or not), as autograd accumulates it.
      grad_weight = torch::empty_like(weight);
      auto target = wrap_strided(grad_weight);
      dnnl::reorder(diff_wei.mem, target.mem).execute(stream, diff_wei.mem, target.mem);
    }
    stream.wait();
    return {grad_input, grad_weight, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor winograd_train_conv(const torch::Tensor& x, torch::nn::Conv2d& conv) {
  const auto& o = conv->options;
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto& w = conv->weight;
  const bool shape_ok =
      !conv->bias.defined() && o.groups() == 1 && padding != nullptr && (*padding)->at(0) == 1 &&
      (*padding)->at(1) == 1 && o.kernel_size()->at(0) == 3 && o.kernel_size()->at(1) == 3 &&
      o.stride()->at(0) == 1 && o.stride()->at(1) == 1 && o.dilation()->at(0) == 1 &&
      o.dilation()->at(1) == 1 && torch::enumtype::get_enum_name(o.padding_mode()) == "kZeros";
  if (!shape_ok || !torch::GradMode::is_enabled() || !DnnlBlocks::available() ||
      !winograd_allowed() || !x.device().is_cpu() || x.is_mkldnn() ||
      x.scalar_type() != torch::kFloat || x.dim() != 4 || w.scalar_type() != torch::kFloat ||
      !w.device().is_cpu() || !w.is_non_overlapping_and_dense()) {
    return torch::Tensor();
  }
  const int64_t in = w.size(1), out = w.size(0);
  // oneDNN's Winograd wants whole 16-channel blocks; below 32 channels the
  // direct kernel is faster anyway.
  // Below 7 pixels its 4x4 output tiles are mostly padding: ResNet-18's
  // 512 channels at 2 pixels (64-pixel inputs) take 12.0 ms against 2.7.
  if (in < 32 || out < 32 || in % 16 != 0 || out % 16 != 0 || x.size(1) != in || x.size(2) < 7 ||
      x.size(3) < 7) {
    return torch::Tensor();
  }
  const std::vector<int64_t> key{x.size(0), in, out, x.size(2), x.size(3), at::get_num_threads()};
  if (!winograd_primitives(shape_key(key))) return torch::Tensor();
  return WinogradConv::apply(x, w, key);
}

#else

torch::Tensor winograd_train_conv(const torch::Tensor&, torch::nn::Conv2d&) {
  return torch::Tensor();
}

#endif

}  // namespace lade
