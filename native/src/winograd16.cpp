// 3x3 convolutions (stride 1, padding 1) of 16, 32 or 64 channels in and
// out on a Winograd F(4x4, 3x3) kernel of lade's own, a channels-last pixel
// taken 16 channels (one AVX-512 register) at a time: in inference for
// every such layer of ResNet-32 (and resnet32-sade's shared 16-channel
// stage), with the folded bias, the block's residual sum and the ReLU in
// its output loop; in training for the 16- and 32-channel ones, forward and
// backward by data (train_conv; the backward by weights stays libtorch's).
//
// Why our own: libtorch runs these layers on oneDNN's direct brgconv kernel
// (the 16-channel stage at about 85% of the CPU's peak: 46% of ResNet-32's
// evaluation time), and oneDNN's Winograd kernel (jit_wino_4x3) is slower
// than that at 16 channels and slower than this one wider. Here the
// transforms are whole-register adds and a tile's 36 products are
// [tiles x C] x [C x C] matrix products kept in L1 or L2: a 6x6 input tile
// gives 4x4 outputs for 36 C^2 multiply-adds instead of 144 C^2 (4x fewer).
// Measured on a 2-core AVX-512 machine, 2 threads, batch 1024, one layer
// against the direct kernel: 1.8x at 16 channels (32 px; 2.5x at batch 128,
// where it is not bound by memory), 2.1x at 32 (16 px), 2.5x at 64 (8 px);
// oneDNN's Winograd took 8 to 10 ms for the 32-channel layer that takes 4.9
// here, and 5 to 6 ms for the 64-channel one that takes 3.2.
//
// The transforms are Lavin and Gray's (Fast Algorithms for Convolutional
// Neural Networks, 2016): Y = A^T [(G g G^T) . (B^T d B)] A with the
// matrices written out below; the weights' transform is computed in double.
// Results differ from the direct sums by rounding (relative L2 below 1e-6
// per layer at these sizes; the tests hold logits to 1e-4). Each tile is
// computed whole by one thread, so the thread count does not change a result.
//
// Built for x86-64 when libtorch's intra-op threads are the libgomp this
// build links (LADE_TORCH_OPENMP: Debian's libtorch): at::parallel_for then
// shares libtorch's OpenMP pool and thread count. Elsewhere, on a CPU
// without AVX-512F, or with LADE_WINOGRAD=0, available() is false and the
// caller runs libtorch's convolution.
#include "model_common.h"

#include <ATen/Parallel.h>

#include <algorithm>

#if defined(__x86_64__) && defined(LADE_TORCH_OPENMP) && defined(_OPENMP)
#define LADE_WINOGRAD16 1
#include <immintrin.h>
// GCC 12's _mm512_max_ps passes _mm512_undefined_ps(), a self-initialised
// register it then warns may be uninitialised (its masked-off lanes are
// unused). Popped at the end of the file (a unity build compiles others after).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lade::winograd16 {

namespace {

constexpr int kC = 16;  // channels a register: a block of a channels-last pixel

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(what);
}

}  // namespace

torch::Tensor transform_weight(const torch::Tensor& weight) {
  require(weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 &&
              weight.scalar_type() == torch::kFloat,
          "winograd16: the weight must be float [out, in, 3, 3]");
  const int64_t out = weight.size(0), in = weight.size(1);
  // G of F(4x4, 3x3): U = G g G^T, a 6x6 matrix from each 3x3 filter; in
  // double, rounded once. A loop, not tensor ops: training transforms every
  // layer's weight at every step (about 20 µs each).
  static const double kG[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  const auto w = weight.detach().to(torch::kCPU).contiguous();  // OIHW
  const float* g = w.data_ptr<float>();
  auto u = torch::empty({36, in, out}, torch::kFloat);  // [position, in, out]
  float* up = u.data_ptr<float>();
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t k = 0; k < in; ++k) {
      const float* f = g + (o * in + k) * 9;
      double gf[6][3];  // G f
      for (int i = 0; i < 6; ++i) {
        for (int b = 0; b < 3; ++b) {
          gf[i][b] = kG[i][0] * f[b] + kG[i][1] * f[3 + b] + kG[i][2] * f[6 + b];
        }
      }
      for (int i = 0; i < 6; ++i) {
        for (int j = 0; j < 6; ++j) {
          const double v = gf[i][0] * kG[j][0] + gf[i][1] * kG[j][1] + gf[i][2] * kG[j][2];
          up[((i * 6 + j) * in + k) * out + o] = static_cast<float>(v);
        }
      }
    }
  }
  return u;
}

#ifdef LADE_WINOGRAD16

namespace {

#define LADE_W16_INLINE __attribute__((target("avx512f"), always_inline)) inline

/// t = B^T d for six registers (one column or row of a 6x6 tile).
LADE_W16_INLINE void input_transform(const __m512 d[6], __m512 t[6]) {
  const __m512 four = _mm512_set1_ps(4.f), two = _mm512_set1_ps(2.f), five = _mm512_set1_ps(5.f);
  t[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
  const __m512 a = _mm512_add_ps(d[1], d[2]), b = _mm512_add_ps(d[3], d[4]);
  t[1] = _mm512_fnmadd_ps(four, a, b);  // -4 d1 - 4 d2 + d3 + d4
  const __m512 c = _mm512_sub_ps(d[1], d[2]), e = _mm512_sub_ps(d[4], d[3]);
  t[2] = _mm512_fmadd_ps(four, c, e);  // 4 d1 - 4 d2 - d3 + d4
  const __m512 f = _mm512_sub_ps(d[4], d[2]), h = _mm512_sub_ps(d[3], d[1]);
  t[3] = _mm512_fmadd_ps(two, h, f);   // -2 d1 - d2 + 2 d3 + d4
  t[4] = _mm512_fnmadd_ps(two, h, f);  // 2 d1 - d2 - 2 d3 + d4
  t[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

/// s = A^T m for six registers: four outputs.
LADE_W16_INLINE void output_transform(const __m512 m[6], __m512 s[4]) {
  const __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_add_ps(m[3], m[4]);
  const __m512 c = _mm512_sub_ps(m[1], m[2]), d = _mm512_sub_ps(m[3], m[4]);
  s[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), b);
  s[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d, c);
  s[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), b, a);
  s[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d, c), m[5]);
}

/// The shapes of one call.
struct Shape {
  int64_t H, W, tiles_h, tiles_w, tiles;  // tiles: of the whole batch
};

/// Tiles [first, first + T) of the batch (numbered image by image, row by
/// row) for C = 16 CB channels in and out: input transform, the 36
/// products, output transform with bias, residual and ReLU where asked
/// (bias, residual: none when null). x, y, residual: [N, H, W, C]; u: [36][C
/// in][C out].
template <int CB, int T>
__attribute__((target("avx512f"))) void run_group(const float* x, float* y, const float* residual,
                                                  const float* u, const float* bias, bool relu,
                                                  const Shape& s, int64_t first) {
  constexpr int C = kC * CB;
  alignas(64) float v[36][T][C];  // transformed inputs, then the products
  alignas(64) float tmp[6][6][kC];
  const __m512 zero = _mm512_setzero_ps();
  const int count = static_cast<int>(std::min<int64_t>(T, s.tiles - first));
  for (int t = 0; t < T; ++t) {
    if (t >= count) {  // the last group's missing tiles: zeros through the products
      for (int p = 0; p < 36; ++p) {
        for (int cb = 0; cb < CB; ++cb) _mm512_store_ps(&v[p][t][cb * kC], zero);
      }
      continue;
    }
    const int64_t id = first + t, n = id / (s.tiles_h * s.tiles_w);
    const int64_t r0 = (id / s.tiles_w) % s.tiles_h * 4 - 1, c0 = id % s.tiles_w * 4 - 1;
    const float* image = x + n * s.H * s.W * C;
    const bool inside = r0 >= 0 && c0 >= 0 && r0 + 6 <= s.H && c0 + 6 <= s.W;
    for (int cb = 0; cb < CB; ++cb) {
      // B^T d B: columns first (into tmp), then rows (into v); zero padding outside.
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        __m512 d[6], o[6];
        const int64_t c = c0 + j;
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) {
          const int64_t r = r0 + i;
          d[i] = inside || (r >= 0 && r < s.H && c >= 0 && c < s.W)
                     ? _mm512_loadu_ps(image + (r * s.W + c) * C + cb * kC)
                     : zero;
        }
        input_transform(d, o);
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) _mm512_store_ps(tmp[i][j], o[i]);
      }
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) {
        __m512 d[6], o[6];
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) d[j] = _mm512_load_ps(tmp[i][j]);
        input_transform(d, o);
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) _mm512_store_ps(&v[i * 6 + j][t][cb * kC], o[j]);
      }
    }
  }
  // Per position p: [T tiles x C in] x [C in x C out]. One weight row (a
  // register) of 16 outputs serves T independent accumulators (16 at 16
  // channels); wider, two rows serve 2 x 8, enough to keep both FMA pipes
  // busy through their latency either way.
  for (int p = 0; p < 36; ++p) {
    const float* up = u + p * C * C;
    if constexpr (CB == 1) {
      __m512 acc[T];
      const __m512 w0 = _mm512_loadu_ps(up);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[t] = _mm512_mul_ps(_mm512_set1_ps(v[p][t][0]), w0);
#pragma GCC unroll 16
      for (int k = 1; k < C; ++k) {
        const __m512 w = _mm512_loadu_ps(up + k * C);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(v[p][t][k]), w, acc[t]);
        }
      }
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) _mm512_store_ps(v[p][t], acc[t]);  // in place
    } else {
      static_assert(CB % 2 == 0, "wider kernels go two output blocks at a time");
      alignas(64) float products[T][C];  // every output needs every input of v[p]
      for (int ob = 0; ob < CB; ob += 2) {
        __m512 acc0[T], acc1[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = zero;
#pragma GCC unroll 4
        for (int k = 0; k < C; ++k) {
          const __m512 w0 = _mm512_loadu_ps(up + k * C + ob * kC);
          const __m512 w1 = _mm512_loadu_ps(up + k * C + ob * kC + kC);
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            const __m512 in = _mm512_set1_ps(v[p][t][k]);
            acc0[t] = _mm512_fmadd_ps(in, w0, acc0[t]);
            acc1[t] = _mm512_fmadd_ps(in, w1, acc1[t]);
          }
        }
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          _mm512_store_ps(&products[t][ob * kC], acc0[t]);
          _mm512_store_ps(&products[t][ob * kC + kC], acc1[t]);
        }
      }
      for (int t = 0; t < T; ++t) {
        for (int cb = 0; cb < CB; ++cb) {
          _mm512_store_ps(&v[p][t][cb * kC], _mm512_load_ps(&products[t][cb * kC]));
        }
      }
    }
  }
  // A^T m A, plus bias and residual, ReLU (each where asked); outputs past the edge dropped.
  for (int t = 0; t < count; ++t) {
    const int64_t id = first + t, n = id / (s.tiles_h * s.tiles_w);
    const int64_t r0 = (id / s.tiles_w) % s.tiles_h * 4, c0 = id % s.tiles_w * 4;
    const int64_t base = n * s.H * s.W * C;
    for (int cb = 0; cb < CB; ++cb) {
      const __m512 b = bias != nullptr ? _mm512_loadu_ps(bias + cb * kC) : zero;
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        __m512 m[6], o[4];
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) m[i] = _mm512_load_ps(&v[i * 6 + j][t][cb * kC]);
        output_transform(m, o);
#pragma GCC unroll 4
        for (int a = 0; a < 4; ++a) _mm512_store_ps(tmp[a][j], o[a]);
      }
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        const int64_t r = r0 + a;
        if (r >= s.H) break;
        __m512 m[6], o[4];
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) m[j] = _mm512_load_ps(tmp[a][j]);
        output_transform(m, o);
#pragma GCC unroll 4
        for (int col = 0; col < 4; ++col) {
          const int64_t c = c0 + col;
          if (c >= s.W) break;
          const int64_t at = base + (r * s.W + c) * C + cb * kC;
          __m512 out = _mm512_add_ps(o[col], b);
          if (residual != nullptr) out = _mm512_add_ps(out, _mm512_loadu_ps(residual + at));
          _mm512_storeu_ps(y + at, relu ? _mm512_max_ps(out, zero) : out);
        }
      }
    }
  }
}

/// run_group over every group of the batch, on libtorch's threads.
template <int CB, int T>
void run_all(const float* x, float* y, const float* residual, const float* u, const float* bias,
             bool relu, const Shape& s) {
  const int64_t groups = (s.tiles + T - 1) / T;
  // A group is 30 to 60 µs of work: 4 groups a task keep the split fine.
  at::parallel_for(0, groups, 4, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      run_group<CB, T>(x, y, residual, u, bias, relu, s, g * T);
    }
  });
}

}  // namespace

bool supported() {
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu;
}

torch::Tensor conv(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias,
                   const torch::Tensor& residual, bool relu) {
  const int64_t C = x.dim() == 4 ? x.size(1) : 0;
  require(x.dim() == 4 && (C == 16 || C == 32 || C == 64) && x.scalar_type() == torch::kFloat &&
              x.device().is_cpu() && x.is_contiguous(at::MemoryFormat::ChannelsLast),
          "winograd16: x must be channels-last CPU float with 16, 32 or 64 channels");
  require(u.sizes() == torch::IntArrayRef({36, C, C}) && u.is_contiguous() &&
              u.scalar_type() == torch::kFloat,
          "winograd16: a transformed weight [36, C, C] expected");
  require(!bias.defined() || (bias.numel() == C && bias.is_contiguous() &&
                              bias.scalar_type() == torch::kFloat && bias.device().is_cpu()),
          "winograd16: the bias must be C floats");
  require(!residual.defined() ||
              (residual.sizes() == x.sizes() && residual.scalar_type() == torch::kFloat &&
               residual.is_contiguous(at::MemoryFormat::ChannelsLast)),
          "winograd16: the residual must be x's shape, channels-last");
  if (!supported()) throw std::runtime_error("winograd16: this CPU has no AVX-512F");
  auto y = torch::empty_like(x, at::MemoryFormat::ChannelsLast);
  Shape s;
  s.H = x.size(2);
  s.W = x.size(3);
  s.tiles_h = (s.H + 3) / 4;
  s.tiles_w = (s.W + 3) / 4;
  s.tiles = x.size(0) * s.tiles_h * s.tiles_w;
  const float* xp = x.data_ptr<float>();
  const float* rp = residual.defined() ? residual.data_ptr<float>() : nullptr;
  const float* up = u.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // Tiles a group: 16 at 16 channels (a buffer of 37 KB, in L1); 8 wider
  // (74 KB at 64). Measured, 2 threads, batch 1024, a layer against the
  // direct kernel: 1.8x at 16 channels (32 px), 2.1x at 32 (16 px), 2.5x at
  // 64 (8 px); 16 tiles at 32 channels and 4 at 64 were slower.
  if (C == 16) {
    run_all<1, 16>(xp, yp, rp, up, bp, relu, s);
  } else if (C == 32) {
    run_all<2, 8>(xp, yp, rp, up, bp, relu, s);
  } else {
    run_all<4, 8>(xp, yp, rp, up, bp, relu, s);
  }
  return y;
}

#else

bool supported() { return false; }

torch::Tensor conv(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                   const torch::Tensor&, bool) {
  throw std::runtime_error("winograd16: not in this build");
}

#endif

bool fits(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto ones = [](const torch::ExpandingArray<2>& a) {
    return a->at(0) == 1 && a->at(1) == 1;
  };
  const auto c = o.in_channels();
  return (c == 16 || c == 32 || c == 64) && o.out_channels() == c && o.kernel_size()->at(0) == 3 &&
         o.kernel_size()->at(1) == 3 && ones(o.stride()) && ones(o.dilation()) && o.groups() == 1 &&
         padding != nullptr && ones(*padding) &&
         torch::enumtype::get_enum_name(o.padding_mode()) == "kZeros";
}

namespace {

/// conv(x, weight) in training: forward and backward by data on the
/// kernel, backward by weights on libtorch's (oneDNN's direct) kernel.
struct TrainConv : torch::autograd::Function<TrainConv> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight) {
    const auto cl = at::MemoryFormat::ChannelsLast;
    auto input = x.contiguous(cl);
    ctx->save_for_backward({input, weight});
    return conv(input, transform_weight(weight), {}, {}, /*relu=*/false);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& input = saved[0];
    const auto& weight = saved[1];
    const auto g = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    torch::Tensor grad_input, grad_weight;
    if (ctx->needs_input_grad(0)) {
      // The gradient by data of a stride-1, padding-1 3x3 convolution is the
      // convolution of the output's gradient with the weight flipped in
      // both spatial axes and its in and out channels swapped.
      const auto flipped = weight.detach().flip({2, 3}).transpose(0, 1);
      grad_input = conv(g, transform_weight(flipped), {}, {}, /*relu=*/false);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = std::get<1>(at::convolution_backward(g, input, weight.detach(), c10::nullopt,
                                                         {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1,
                                                         {false, true, false}));
    }
    return {grad_input, grad_weight};
  }
};

}  // namespace

torch::Tensor train_conv(const torch::Tensor& x, torch::nn::Conv2d& c) {
  const auto& w = c->weight;
  // At 64 channels oneDNN's Winograd backward by weights beats libtorch's
  // direct one, so there oneDNN's whole path (train_dnnl.cpp) is faster:
  // ResNet-32 steps at 1,098-1,123 img/s with this kernel to 32 channels,
  // 1,041-1,076 with it to 64 (measured, 2 threads).
  if (!fits(c->options) || c->options.in_channels() > 32 || c->bias.defined() ||
      !torch::GradMode::is_enabled() || x.dim() != 4 || x.is_mkldnn() || !x.device().is_cpu() ||
      x.scalar_type() != torch::kFloat || !w.device().is_cpu() ||
      w.scalar_type() != torch::kFloat || !available()) {
    return torch::Tensor();
  }
  return TrainConv::apply(x, w);
}

bool available() { return supported() && winograd_allowed(); }

}  // namespace lade::winograd16

#ifdef LADE_WINOGRAD16
#pragma GCC diagnostic pop
#endif
