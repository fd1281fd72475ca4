// Inference straight on oneDNN, in its blocked layout: ResNet-32's option-A
// basic blocks of 32 and 64 channels (DnnlBlocks::run) and cnn28's
// conv-ReLU-maxpool stages (DnnlBlocks::run_conv_pool). Built when oneDNN's
// headers are found and the libtorch links that same shared oneDNN
// (LADE_WITH_DNNL; Debian's libtorch with libdnnl-dev), never with a CUDA
// libtorch. Measured on a 2-core AVX-512 machine, batch 256: oneDNN's
// Winograd convolution (jit_wino_4x3) is 1.4x faster than the direct one at
// 32 channels and 1.9x at 64 (slower at 16: ResNet-32's 16-channel stage
// stays on libtorch). Each convolution's ReLU and a block's residual sum run
// as the convolution's post-ops (no pass of their own), and the activations
// stay in one layout from the first stage to the last. Where oneDNN refuses
// a Winograd primitive (a CPU without AVX-512) the direct one runs; where it
// refuses anything, the caller's libtorch path runs.
#include "model_common.h"

#include "dnnl_common.h"

#include <cstdlib>
#include <cstring>
#include <map>

namespace lade {

#ifdef LADE_WITH_DNNL

// The types the backbone's state holds (named, so that it may hold them).
namespace dnnl_path {

using dnnl_util::Buffer;

/// One convolution of a block: its primitive for a batch shape, and its
/// weights reordered once into the layout the primitive chose.
struct DnnlConv {
  torch::Tensor weight, bias;  // the folded tensors the reorder came from (held: identity)
  dnnl::memory::dims src_dims;
  dnnl::convolution_forward primitive;
  dnnl::convolution_forward::primitive_desc pd;
  Buffer weights;
  dnnl::memory bias_mem;
  bool winograd = false;
  /// LADE_WINOGRAD as it was when the primitive was made (a change remakes it).
  bool winograd_asked = false;
  /// The threads it was made for: oneDNN sizes a primitive's work split and
  /// scratchpad for them, and asks for the same number when it runs.
  int threads = 0;
};

}  // namespace dnnl_path

using dnnl_path::DnnlConv;
using dnnl_util::Buffer;
using dnnl_util::cpu_engine;
using dnnl_util::make_buffer;
using dnnl_util::run_with_scratchpad;
using dnnl_util::to_layout;
using dnnl_util::to_tensor;
using dnnl_util::user_scratchpad;
using dnnl_util::wrap_strided;

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

}  // namespace

/// A 2x2 max pooling (stride 2) for a source layout.
struct DnnlPool {
  dnnl::memory::desc src;
  int threads = 0;  // as DnnlConv::threads
  dnnl::pooling_forward primitive;
  dnnl::pooling_forward::primitive_desc pd;
};

struct DnnlBlocks::State {
  std::map<std::pair<size_t, int>, DnnlConv> convs;  // (block, 1 or 2); (stage, 0) for ConvPool
  std::map<size_t, DnnlPool> pools;                  // by ConvPool stage
};

namespace {

/// The primitive of a 3x3 convolution (padding 1) from `src` dims with
/// `relu` and, for the second of a block, `sum` post-ops; Winograd first
/// where it may pay (stride 1, 32 channels and more).
dnnl::convolution_forward::primitive_desc conv_pd(const memory::dims& src, int64_t out_channels,
                                                  int64_t stride, bool sum, bool& winograd) {
  const auto h = (src[2] + 2 - 3) / stride + 1, w = (src[3] + 2 - 3) / stride + 1;
  memory::desc src_md(src, dt::f32, tag::any);
  memory::desc w_md({out_channels, src[1], 3, 3}, dt::f32, tag::any);
  memory::desc b_md({out_channels}, dt::f32, tag::a);
  memory::desc dst_md({src[0], out_channels, h, w}, dt::f32, tag::any);
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.f);
  ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  auto attr = user_scratchpad();
  attr.set_post_ops(ops);
  const memory::dims strides{stride, stride}, padding{1, 1};
  if (winograd && stride == 1 && src[1] >= 32 && out_channels >= 32) {
    try {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_winograd, src_md, w_md, b_md,
                                        dst_md, strides, padding, padding);
      return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
    } catch (const dnnl::error&) {
      // no Winograd kernel for this CPU or shape: the direct one
    }
  }
  winograd = false;
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                    dnnl::algorithm::convolution_direct, src_md, w_md, b_md, dst_md,
                                    strides, padding, padding);
  return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
}

}  // namespace

namespace {

/// The convolution `which` (1 or 2) of block `block` for `src` dims, made
/// or remade when its weights (the folded tensors, by identity) or the
/// batch's shape changed.
DnnlConv& conv_for(std::map<std::pair<size_t, int>, DnnlConv>& convs, size_t block, int which,
                   const memory::dims& src, const torch::Tensor& weight, const torch::Tensor& bias,
                   int64_t stride, bool sum, dnnl::stream& stream) {
  auto& c = convs[{block, which}];
  const bool same =
      c.weight.defined() && c.weight.unsafeGetTensorImpl() == weight.unsafeGetTensorImpl() &&
      c.bias.unsafeGetTensorImpl() == bias.unsafeGetTensorImpl() && c.src_dims == src &&
      c.winograd_asked == winograd_allowed() && c.threads == at::get_num_threads();
  if (same) return c;
  c = DnnlConv();
  c.winograd_asked = c.winograd = winograd_allowed();
  c.threads = at::get_num_threads();
  c.pd = conv_pd(src, weight.size(0), stride, sum, c.winograd);
  c.primitive = dnnl::convolution_forward(c.pd);
  c.weight = weight;
  c.bias = bias.contiguous();
  c.src_dims = src;
  // The folded weight as OIHW, reordered once into the primitive's layout.
  auto plain = weight.contiguous();
  memory::desc user({weight.size(0), weight.size(1), 3, 3}, dt::f32, tag::oihw);
  memory from(user, cpu_engine(), plain.data_ptr());
  c.weights = make_buffer(c.pd.weights_desc());
  dnnl::reorder(from, c.weights.mem).execute(stream, from, c.weights.mem);
  stream.wait();
  c.bias_mem =
      memory(memory::desc({weight.size(0)}, dt::f32, tag::a), cpu_engine(), c.bias.data_ptr());
  return c;
}

/// Runs `c` on `src` (reordered into its source layout first when needed) into `dst`.
void execute(DnnlConv& c, const Buffer& src, const Buffer& dst, dnnl::stream& stream) {
  Buffer in = to_layout(src, c.pd.src_desc(), stream);
  run_with_scratchpad(c.primitive, c.pd,
                      {{DNNL_ARG_SRC, in.mem},
                       {DNNL_ARG_WEIGHTS, c.weights.mem},
                       {DNNL_ARG_BIAS, c.bias_mem},
                       {DNNL_ARG_DST, dst.mem}},
                      stream);
}

}  // namespace

torch::Tensor DnnlBlocks::run(const torch::Tensor& x, const std::vector<Block>& blocks) {
  if (blocks.empty() || !x.device().is_cpu() || x.scalar_type() != torch::kFloat || x.dim() != 4) {
    return torch::Tensor();
  }
  try {
    if (!state_) state_ = std::make_shared<State>();
    dnnl::stream stream(cpu_engine());
    // The input as NHWC (channels-last), as libtorch's convolutions left it.
    memory::dims dims{x.size(0), x.size(1), x.size(2), x.size(3)};
    Buffer cur = wrap_strided(x.contiguous(at::MemoryFormat::ChannelsLast));
    bool cur_is_input = true;  // never written: it is the caller's
    for (size_t i = 0; i < blocks.size(); ++i) {
      const auto& b = blocks[i];
      auto& c1 = conv_for(state_->convs, i, 1, dims, b.w1, b.b1, b.stride, /*sum=*/false, stream);
      Buffer t = make_buffer(c1.pd.dst_desc());
      execute(c1, cur, t, stream);
      const auto& td = c1.pd.dst_desc().dims();
      memory::dims tdims(td.begin(), td.end());
      auto& c2 = conv_for(state_->convs, i, 2, tdims, b.w2, b.b2, 1, /*sum=*/true, stream);
      // The residual, in the second convolution's output layout: that
      // convolution adds its result to it (sum post-op), then the ReLU.
      Buffer out;
      if (b.stride == 1 && b.pad_channels == 0) {
        out = to_layout(cur, c2.pd.dst_desc(), stream);
        if (out.mem.get_data_handle() == cur.mem.get_data_handle() && cur_is_input) {
          Buffer copy = make_buffer(c2.pd.dst_desc());
          dnnl::reorder(cur.mem, copy.mem).execute(stream, cur.mem, copy.mem);
          out = copy;
        }
      } else {
        // Option A: the input subsampled by 2, its channels zero-padded.
        Buffer nhwc = to_layout(cur, memory::desc(dims, dt::f32, tag::nhwc), stream);
        stream.wait();
        auto in4 = torch::from_blob(nhwc.mem.get_data_handle(),
                                    {dims[0], dims[2], dims[3], dims[1]}, torch::kFloat);
        using torch::indexing::None;
        using torch::indexing::Slice;
        auto sub = in4.index({Slice(), Slice(None, None, 2), Slice(None, None, 2), Slice()});
        auto padded = torch::zeros({tdims[0], tdims[2], tdims[3], tdims[1]}, torch::kFloat);
        padded.narrow(3, b.pad_channels, dims[1]).copy_(sub);
        out = to_layout(wrap_strided(padded.permute({0, 3, 1, 2})), c2.pd.dst_desc(), stream);
      }
      execute(c2, t, out, stream);
      cur = out;
      cur_is_input = false;
      dims = tdims;
    }
    // Back to a channels-last libtorch tensor.
    return to_tensor(cur, at::MemoryFormat::ChannelsLast, stream);
  } catch (const dnnl::error&) {
    return torch::Tensor();  // the caller's path
  }
}

torch::Tensor DnnlBlocks::run_conv_pool(const torch::Tensor& x,
                                        const std::vector<ConvPool>& stages) {
  if (stages.empty() || !x.device().is_cpu() || x.scalar_type() != torch::kFloat || x.dim() != 4) {
    return torch::Tensor();
  }
  try {
    if (!state_) state_ = std::make_shared<State>();
    dnnl::stream stream(cpu_engine());
    memory::dims dims{x.size(0), x.size(1), x.size(2), x.size(3)};
    Buffer cur = wrap_strided(dense(x).contiguous());
    for (size_t i = 0; i < stages.size(); ++i) {
      const auto& st = stages[i];
      // relu(maxpool(conv)) is maxpool(relu(conv)): the ReLU is the convolution's post-op.
      auto& c = conv_for(state_->convs, i, 0, dims, st.w, st.b, 1, /*sum=*/false, stream);
      Buffer t = make_buffer(c.pd.dst_desc());
      execute(c, cur, t, stream);
      auto& p = state_->pools[i];
      if (!(p.src == c.pd.dst_desc()) || p.threads != at::get_num_threads()) {
        const auto& td = c.pd.dst_desc().dims();
        memory::dims out{td[0], td[1], (td[2] - 2) / 2 + 1, (td[3] - 2) / 2 + 1};
        dnnl::pooling_forward::desc d(
            dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, c.pd.dst_desc(),
            memory::desc(out, dt::f32, tag::any), {2, 2}, {2, 2}, {0, 0}, {0, 0});
        p.pd = dnnl::pooling_forward::primitive_desc(d, user_scratchpad(), cpu_engine());
        p.primitive = dnnl::pooling_forward(p.pd);
        p.src = c.pd.dst_desc();
        p.threads = at::get_num_threads();
      }
      Buffer pooled = make_buffer(p.pd.dst_desc());
      run_with_scratchpad(p.primitive, p.pd, {{DNNL_ARG_SRC, t.mem}, {DNNL_ARG_DST, pooled.mem}},
                          stream);
      cur = pooled;
      const auto& pd = p.pd.dst_desc().dims();
      dims = memory::dims(pd.begin(), pd.end());
    }
    // Back to a plain NCHW libtorch tensor (flattened by the caller as (C, H, W)).
    return to_tensor(cur, at::MemoryFormat::Contiguous, stream);
  } catch (const dnnl::error&) {
    return torch::Tensor();  // the caller's path
  }
}

void DnnlBlocks::clear() { state_.reset(); }

bool DnnlBlocks::available() {
  const char* v = std::getenv("LADE_DNNL");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

#else

torch::Tensor DnnlBlocks::run(const torch::Tensor&, const std::vector<Block>&) {
  return torch::Tensor();
}

torch::Tensor DnnlBlocks::run_conv_pool(const torch::Tensor&, const std::vector<ConvPool>&) {
  return torch::Tensor();
}

void DnnlBlocks::clear() {}

bool DnnlBlocks::available() { return false; }

#endif

}  // namespace lade
