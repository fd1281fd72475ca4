// Tensor operations. Families of similar ops share one entry point selected by
// an op code, so the FFI symbol table stays small. The codes are the enums of
// lade.h, mirrored in lib/torch/ops.ts (scripts/check_abi.ts compares them).
#include "common.h"

using namespace lade;

namespace {

torch::Tensor unary(int32_t op, const torch::Tensor& a) {
  switch (op) {
    case LADE_UNARY_NEG: return -a;
    case LADE_UNARY_EXP: return a.exp();
    case LADE_UNARY_LOG: return a.log();
    case LADE_UNARY_SQRT: return a.sqrt();
    case LADE_UNARY_ABS: return a.abs();
    case LADE_UNARY_RELU: return a.relu();
    case LADE_UNARY_SIGMOID: return a.sigmoid();
    case LADE_UNARY_TANH: return a.tanh();
    case LADE_UNARY_FLOOR: return a.floor();
    case LADE_UNARY_CEIL: return a.ceil();
    case LADE_UNARY_ROUND: return a.round();
    case LADE_UNARY_SIGN: return a.sign();
    case LADE_UNARY_LOG1P: return a.log1p();
    case LADE_UNARY_EXPM1: return a.expm1();
    case LADE_UNARY_SQUARE: return a.square();
    case LADE_UNARY_LOGICAL_NOT: return a.logical_not();
    case LADE_UNARY_RECIPROCAL: return a.reciprocal();
    case LADE_UNARY_SIN: return a.sin();
    case LADE_UNARY_COS: return a.cos();
    case LADE_UNARY_ISNAN: return a.isnan();
    case LADE_UNARY_RSQRT: return a.rsqrt();
    case LADE_UNARY_CONTIGUOUS: return a.contiguous();
    case LADE_UNARY_CLONE: return a.clone();
    case LADE_UNARY_DETACH: return a.detach();
    case LADE_UNARY_FLATTEN: return a.flatten();
    case LADE_UNARY_T: return a.t();
    case LADE_UNARY_ISFINITE: return a.isfinite();
  }
  throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

torch::Tensor binary(int32_t op, const torch::Tensor& a, const torch::Tensor& b) {
  switch (op) {
    case LADE_BINARY_ADD: return a + b;
    case LADE_BINARY_SUB: return a - b;
    case LADE_BINARY_MUL: return a * b;
    case LADE_BINARY_DIV: return a / b;
    case LADE_BINARY_POW: return a.pow(b);
    case LADE_BINARY_EQ: return a.eq(b);
    case LADE_BINARY_NE: return a.ne(b);
    case LADE_BINARY_LT: return a.lt(b);
    case LADE_BINARY_LE: return a.le(b);
    case LADE_BINARY_GT: return a.gt(b);
    case LADE_BINARY_GE: return a.ge(b);
    case LADE_BINARY_MAXIMUM: return torch::maximum(a, b);
    case LADE_BINARY_MINIMUM: return torch::minimum(a, b);
    case LADE_BINARY_MATMUL: return a.matmul(b);
    case LADE_BINARY_LOGICAL_AND: return a.logical_and(b);
    case LADE_BINARY_LOGICAL_OR: return a.logical_or(b);
    case LADE_BINARY_REMAINDER: return a.remainder(b);
    case LADE_BINARY_FLOOR_DIVIDE: return torch::div(a, b, "floor");
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

torch::Tensor binary_scalar(int32_t op, const torch::Tensor& a, double s) {
  // Integer tensors keep their dtype when the scalar is integral, as in PyTorch.
  const torch::Scalar v =
      (!a.is_floating_point() && s == static_cast<double>(static_cast<int64_t>(s)))
          ? torch::Scalar(static_cast<int64_t>(s))
          : torch::Scalar(s);
  switch (op) {
    case LADE_BINARY_ADD: return a + v;
    case LADE_BINARY_SUB: return a - v;
    case LADE_BINARY_MUL: return a * v;
    case LADE_BINARY_DIV: return a / v;
    case LADE_BINARY_POW: return a.pow(v);
    case LADE_BINARY_EQ: return a.eq(v);
    case LADE_BINARY_NE: return a.ne(v);
    case LADE_BINARY_LT: return a.lt(v);
    case LADE_BINARY_LE: return a.le(v);
    case LADE_BINARY_GT: return a.gt(v);
    case LADE_BINARY_GE: return a.ge(v);
    case LADE_BINARY_MAXIMUM: return a.clamp_min(v);
    case LADE_BINARY_MINIMUM: return a.clamp_max(v);
    case LADE_BINARY_REMAINDER: return a.remainder(v);
    case LADE_BINARY_FLOOR_DIVIDE:
      return torch::div(a, torch::scalar_tensor(v, a.options()), "floor");
    case LADE_BINARY_RSUB: return torch::rsub(a, v);
    case LADE_BINARY_RDIV: return a.reciprocal() * v;
    case LADE_BINARY_RPOW: return torch::pow(v, a);
  }
  throw std::invalid_argument("unknown scalar op " + std::to_string(op));
}

torch::Tensor reduce_all(int32_t op, const torch::Tensor& a) {
  switch (op) {
    case LADE_REDUCE_SUM: return a.sum();
    case LADE_REDUCE_MEAN: return a.mean();
    case LADE_REDUCE_MAX: return a.max();
    case LADE_REDUCE_MIN: return a.min();
    case LADE_REDUCE_ARGMAX: return a.argmax();
    case LADE_REDUCE_ARGMIN: return a.argmin();
    case LADE_REDUCE_LOGSUMEXP: return a.flatten().logsumexp(0);
    case LADE_REDUCE_PROD: return a.prod();
    case LADE_REDUCE_STD: return a.std();
    case LADE_REDUCE_VAR: return a.var();
    case LADE_REDUCE_ALL: return a.all();
    case LADE_REDUCE_ANY: return a.any();
  }
  throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

torch::Tensor reduce_dim(int32_t op, const torch::Tensor& a, int32_t dim, bool keep) {
  switch (op) {
    case LADE_REDUCE_SUM: return a.sum(dim, keep);
    case LADE_REDUCE_MEAN: return a.mean(dim, keep);
    case LADE_REDUCE_MAX: return std::get<0>(a.max(dim, keep));
    case LADE_REDUCE_MIN: return std::get<0>(a.min(dim, keep));
    case LADE_REDUCE_ARGMAX: return a.argmax(dim, keep);
    case LADE_REDUCE_ARGMIN: return a.argmin(dim, keep);
    case LADE_REDUCE_LOGSUMEXP: return a.logsumexp(dim, keep);
    case LADE_REDUCE_PROD: return a.prod(dim, keep);
    case LADE_REDUCE_STD: return a.std(dim, /*unbiased=*/true, keep);
    case LADE_REDUCE_VAR: return a.var(dim, /*unbiased=*/true, keep);
    case LADE_REDUCE_ALL: return a.all(dim, keep);
    case LADE_REDUCE_ANY: return a.any(dim, keep);
  }
  throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

torch::Tensor dim_op(int32_t op, const torch::Tensor& a, int32_t dim) {
  switch (op) {
    case LADE_DIM_SOFTMAX: return a.softmax(dim);
    case LADE_DIM_LOG_SOFTMAX: return a.log_softmax(dim);
    case LADE_DIM_CUMSUM: return a.cumsum(dim);
    case LADE_DIM_SQUEEZE: return a.squeeze(dim);
    case LADE_DIM_UNSQUEEZE: return a.unsqueeze(dim);
    case LADE_DIM_ARGSORT_ASC: return a.argsort(dim, false);
    case LADE_DIM_ARGSORT_DESC: return a.argsort(dim, true);
  }
  throw std::invalid_argument("unknown dim op " + std::to_string(op));
}

std::vector<torch::Tensor> handles(lade_tensor* const* hs, int32_t n) {
  std::vector<torch::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) out.push_back(T(hs[i]));
  return out;
}

}  // namespace

LADE_EXTERN lade_tensor* lade_unary(int32_t op, lade_tensor* a) {
  return guard_tensor([&] { return unary(op, T(a)); });
}

LADE_EXTERN lade_tensor* lade_binary(int32_t op, lade_tensor* a, lade_tensor* b) {
  return guard_tensor([&] { return binary(op, T(a), T(b)); });
}

LADE_EXTERN lade_tensor* lade_binary_scalar(int32_t op, lade_tensor* a, double s) {
  return guard_tensor([&] { return binary_scalar(op, T(a), s); });
}

LADE_EXTERN lade_tensor* lade_reduce(int32_t op, lade_tensor* a, int32_t dim, int32_t keepdim,
                                     int32_t all_dims) {
  return guard_tensor(
      [&] { return all_dims ? reduce_all(op, T(a)) : reduce_dim(op, T(a), dim, keepdim != 0); });
}

LADE_EXTERN lade_tensor* lade_dim_op(int32_t op, lade_tensor* a, int32_t dim) {
  return guard_tensor([&] { return dim_op(op, T(a), dim); });
}

LADE_EXTERN lade_tensor* lade_to(lade_tensor* a, int32_t dtype, int32_t device_type,
                                 int32_t device_index, int32_t non_blocking) {
  return guard_tensor([&] {
    const auto& t = T(a);
    const auto st = dtype < 0 ? t.scalar_type() : to_scalar_type(dtype);
    const auto dev = device_type < 0 ? t.device() : to_device(device_type, device_index);
    return t.to(dev, st, non_blocking != 0);
  });
}

LADE_EXTERN lade_tensor* lade_clamp(lade_tensor* a, double lo, int32_t has_lo, double hi,
                                    int32_t has_hi) {
  return guard_tensor([&] {
    return T(a).clamp(has_lo ? c10::optional<torch::Scalar>(lo) : c10::nullopt,
                      has_hi ? c10::optional<torch::Scalar>(hi) : c10::nullopt);
  });
}

LADE_EXTERN lade_tensor* lade_where(lade_tensor* cond, lade_tensor* a, lade_tensor* b) {
  return guard_tensor([&] { return torch::where(T(cond), T(a), T(b)); });
}

LADE_EXTERN lade_tensor* lade_gather(lade_tensor* a, int32_t dim, lade_tensor* index) {
  return guard_tensor([&] { return T(a).gather(dim, T(index)); });
}

LADE_EXTERN lade_tensor* lade_scatter_add(lade_tensor* a, int32_t dim, lade_tensor* index,
                                          lade_tensor* src) {
  return guard_tensor([&] { return T(a).scatter_add(dim, T(index), T(src)); });
}

LADE_EXTERN lade_tensor* lade_index_select(lade_tensor* a, int32_t dim, lade_tensor* index) {
  return guard_tensor([&] { return T(a).index_select(dim, T(index)); });
}

LADE_EXTERN lade_tensor* lade_masked_select(lade_tensor* a, lade_tensor* mask) {
  return guard_tensor([&] { return T(a).masked_select(T(mask)); });
}

LADE_EXTERN lade_tensor* lade_masked_fill(lade_tensor* a, lade_tensor* mask, double value) {
  return guard_tensor([&] { return T(a).masked_fill(T(mask), value); });
}

LADE_EXTERN lade_tensor* lade_one_hot(lade_tensor* a, int32_t classes) {
  return guard_tensor([&] { return torch::one_hot(T(a), classes); });
}

LADE_EXTERN lade_tensor* lade_bincount(lade_tensor* a, int32_t minlength) {
  return guard_tensor([&] { return T(a).bincount({}, minlength); });
}

LADE_EXTERN int32_t lade_topk(lade_tensor* a, int32_t k, int32_t dim, int32_t largest,
                              lade_tensor** out) {
  return guard_status([&] {
    auto r = T(a).topk(k, dim, largest != 0, true);
    out[0] = wrap(std::get<0>(r));
    out[1] = wrap(std::get<1>(r));
  });
}

LADE_EXTERN lade_tensor* lade_reshape(lade_tensor* a, const int64_t* shape, int32_t ndim) {
  return guard_tensor([&] { return T(a).reshape(to_vec(shape, ndim)); });
}

LADE_EXTERN lade_tensor* lade_expand(lade_tensor* a, const int64_t* shape, int32_t ndim) {
  return guard_tensor([&] { return T(a).expand(to_vec(shape, ndim)); });
}

LADE_EXTERN lade_tensor* lade_permute(lade_tensor* a, const int64_t* dims, int32_t ndim) {
  return guard_tensor([&] { return T(a).permute(to_vec(dims, ndim)); });
}

LADE_EXTERN lade_tensor* lade_transpose(lade_tensor* a, int32_t d0, int32_t d1) {
  return guard_tensor([&] { return T(a).transpose(d0, d1); });
}

LADE_EXTERN lade_tensor* lade_flip(lade_tensor* a, const int64_t* dims, int32_t ndim) {
  return guard_tensor([&] { return T(a).flip(to_vec(dims, ndim)); });
}

LADE_EXTERN lade_tensor* lade_narrow(lade_tensor* a, int32_t dim, int64_t start, int64_t length) {
  return guard_tensor([&] { return T(a).narrow(dim, start, length); });
}

LADE_EXTERN lade_tensor* lade_slice(lade_tensor* a, int32_t dim, int64_t start, int64_t end,
                                    int64_t step) {
  return guard_tensor([&] { return T(a).slice(dim, start, end, step); });
}

LADE_EXTERN lade_tensor* lade_select(lade_tensor* a, int32_t dim, int64_t index) {
  return guard_tensor([&] { return T(a).select(dim, index); });
}

LADE_EXTERN lade_tensor* lade_pad(lade_tensor* a, const int64_t* pads, int32_t n, double value) {
  return guard_tensor([&] { return torch::constant_pad_nd(T(a), to_vec(pads, n), value); });
}

LADE_EXTERN lade_tensor* lade_cat(lade_tensor* const* hs, int32_t n, int32_t dim) {
  return guard_tensor([&] { return torch::cat(handles(hs, n), dim); });
}

LADE_EXTERN lade_tensor* lade_stack(lade_tensor* const* hs, int32_t n, int32_t dim) {
  return guard_tensor([&] { return torch::stack(handles(hs, n), dim); });
}

LADE_EXTERN lade_tensor* lade_affine_grid_sample(lade_tensor* input, lade_tensor* theta,
                                                 int32_t nearest, int32_t align_corners) {
  return guard_tensor([&] {
    const auto& x = T(input);
    const auto& t = T(theta);
    if (x.dim() != 4) throw std::invalid_argument("affine_grid_sample takes images [N, C, H, W]");
    if (t.dim() != 3 || t.size(0) != x.size(0) || t.size(1) != 2 || t.size(2) != 3) {
      throw std::invalid_argument("affine_grid_sample takes one 2 x 3 matrix per image");
    }
    const auto grid = torch::affine_grid_generator(t.to(x.dtype()), x.sizes(), align_corners != 0);
    // mode 0 bilinear, 1 nearest; padding mode 0: zeros outside the image.
    return torch::grid_sampler(x, grid, nearest != 0 ? 1 : 0, 0, align_corners != 0);
  });
}
