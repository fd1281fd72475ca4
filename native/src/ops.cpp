// Tensor operations. Families of similar ops share one entry point selected by
// an op code, so the FFI symbol table stays small; the codes are mirrored in
// lib/torch/ops.ts and must stay in sync with it.
#include "common.h"

using namespace lade;

namespace {

enum Unary {
  U_NEG, U_EXP, U_LOG, U_SQRT, U_ABS, U_RELU, U_SIGMOID, U_TANH, U_FLOOR, U_CEIL, U_ROUND, U_SIGN,
  U_LOG1P, U_EXPM1, U_SQUARE, U_LOGICAL_NOT, U_RECIPROCAL, U_SIN, U_COS, U_ISNAN, U_RSQRT, U_CONTIGUOUS,
  U_CLONE, U_DETACH, U_FLATTEN, U_T, U_ISFINITE
};

enum Binary {
  B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_MAXIMUM, B_MINIMUM, B_MATMUL,
  B_LOGICAL_AND, B_LOGICAL_OR, B_REMAINDER, B_FLOOR_DIVIDE, B_RSUB, B_RDIV, B_RPOW
};

enum Reduce { R_SUM, R_MEAN, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_LOGSUMEXP, R_PROD, R_STD, R_VAR, R_ALL, R_ANY };

enum DimOp { D_SOFTMAX, D_LOG_SOFTMAX, D_CUMSUM, D_SQUEEZE, D_UNSQUEEZE, D_ARGSORT_ASC, D_ARGSORT_DESC };

torch::Tensor unary(int32_t op, const torch::Tensor& a) {
  switch (op) {
    case U_NEG: return -a;
    case U_EXP: return a.exp();
    case U_LOG: return a.log();
    case U_SQRT: return a.sqrt();
    case U_ABS: return a.abs();
    case U_RELU: return a.relu();
    case U_SIGMOID: return a.sigmoid();
    case U_TANH: return a.tanh();
    case U_FLOOR: return a.floor();
    case U_CEIL: return a.ceil();
    case U_ROUND: return a.round();
    case U_SIGN: return a.sign();
    case U_LOG1P: return a.log1p();
    case U_EXPM1: return a.expm1();
    case U_SQUARE: return a.square();
    case U_LOGICAL_NOT: return a.logical_not();
    case U_RECIPROCAL: return a.reciprocal();
    case U_SIN: return a.sin();
    case U_COS: return a.cos();
    case U_ISNAN: return a.isnan();
    case U_RSQRT: return a.rsqrt();
    case U_CONTIGUOUS: return a.contiguous();
    case U_CLONE: return a.clone();
    case U_DETACH: return a.detach();
    case U_FLATTEN: return a.flatten();
    case U_T: return a.t();
    case U_ISFINITE: return a.isfinite();
  }
  throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

torch::Tensor binary(int32_t op, const torch::Tensor& a, const torch::Tensor& b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return a.pow(b);
    case B_EQ: return a.eq(b);
    case B_NE: return a.ne(b);
    case B_LT: return a.lt(b);
    case B_LE: return a.le(b);
    case B_GT: return a.gt(b);
    case B_GE: return a.ge(b);
    case B_MAXIMUM: return torch::maximum(a, b);
    case B_MINIMUM: return torch::minimum(a, b);
    case B_MATMUL: return a.matmul(b);
    case B_LOGICAL_AND: return a.logical_and(b);
    case B_LOGICAL_OR: return a.logical_or(b);
    case B_REMAINDER: return a.remainder(b);
    case B_FLOOR_DIVIDE: return torch::div(a, b, "floor");
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

torch::Tensor binary_scalar(int32_t op, const torch::Tensor& a, double s) {
  // Integer tensors keep their dtype when the scalar is integral, as in PyTorch.
  const torch::Scalar v = (!a.is_floating_point() && s == static_cast<double>(static_cast<int64_t>(s)))
                              ? torch::Scalar(static_cast<int64_t>(s))
                              : torch::Scalar(s);
  switch (op) {
    case B_ADD: return a + v;
    case B_SUB: return a - v;
    case B_MUL: return a * v;
    case B_DIV: return a / v;
    case B_POW: return a.pow(v);
    case B_EQ: return a.eq(v);
    case B_NE: return a.ne(v);
    case B_LT: return a.lt(v);
    case B_LE: return a.le(v);
    case B_GT: return a.gt(v);
    case B_GE: return a.ge(v);
    case B_MAXIMUM: return a.clamp_min(v);
    case B_MINIMUM: return a.clamp_max(v);
    case B_REMAINDER: return a.remainder(v);
    case B_FLOOR_DIVIDE: return torch::div(a, torch::scalar_tensor(v, a.options()), "floor");
    case B_RSUB: return torch::rsub(a, v);
    case B_RDIV: return a.reciprocal() * v;
    case B_RPOW: return torch::pow(v, a);
  }
  throw std::invalid_argument("unknown scalar op " + std::to_string(op));
}

torch::Tensor reduce_all(int32_t op, const torch::Tensor& a) {
  switch (op) {
    case R_SUM: return a.sum();
    case R_MEAN: return a.mean();
    case R_MAX: return a.max();
    case R_MIN: return a.min();
    case R_ARGMAX: return a.argmax();
    case R_ARGMIN: return a.argmin();
    case R_LOGSUMEXP: return a.flatten().logsumexp(0);
    case R_PROD: return a.prod();
    case R_STD: return a.std();
    case R_VAR: return a.var();
    case R_ALL: return a.all();
    case R_ANY: return a.any();
  }
  throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

torch::Tensor reduce_dim(int32_t op, const torch::Tensor& a, int32_t dim, bool keep) {
  switch (op) {
    case R_SUM: return a.sum(dim, keep);
    case R_MEAN: return a.mean(dim, keep);
    case R_MAX: return std::get<0>(a.max(dim, keep));
    case R_MIN: return std::get<0>(a.min(dim, keep));
    case R_ARGMAX: return a.argmax(dim, keep);
    case R_ARGMIN: return a.argmin(dim, keep);
    case R_LOGSUMEXP: return a.logsumexp(dim, keep);
    case R_PROD: return a.prod(dim, keep);
    case R_STD: return a.std(dim, /*unbiased=*/true, keep);
    case R_VAR: return a.var(dim, /*unbiased=*/true, keep);
    case R_ALL: return a.all(dim, keep);
    case R_ANY: return a.any(dim, keep);
  }
  throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

torch::Tensor dim_op(int32_t op, const torch::Tensor& a, int32_t dim) {
  switch (op) {
    case D_SOFTMAX: return a.softmax(dim);
    case D_LOG_SOFTMAX: return a.log_softmax(dim);
    case D_CUMSUM: return a.cumsum(dim);
    case D_SQUEEZE: return a.squeeze(dim);
    case D_UNSQUEEZE: return a.unsqueeze(dim);
    case D_ARGSORT_ASC: return a.argsort(dim, false);
    case D_ARGSORT_DESC: return a.argsort(dim, true);
  }
  throw std::invalid_argument("unknown dim op " + std::to_string(op));
}

std::vector<torch::Tensor> handles(torch::Tensor* const* hs, int32_t n) {
  std::vector<torch::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) out.push_back(T(hs[i]));
  return out;
}

}  // namespace

/// Elementwise op with one input (see enum Unary).
LADE_EXTERN torch::Tensor* lade_unary(int32_t op, torch::Tensor* a) {
  return guard_tensor([&] { return unary(op, T(a)); });
}

/// Elementwise op of two tensors with broadcasting, or matmul (see enum Binary).
LADE_EXTERN torch::Tensor* lade_binary(int32_t op, torch::Tensor* a, torch::Tensor* b) {
  return guard_tensor([&] { return binary(op, T(a), T(b)); });
}

/// Elementwise op of a tensor and a scalar (see enum Binary).
LADE_EXTERN torch::Tensor* lade_binary_scalar(int32_t op, torch::Tensor* a, double s) {
  return guard_tensor([&] { return binary_scalar(op, T(a), s); });
}

/// Reduction over all elements (all_dims != 0) or over `dim` (see enum Reduce).
LADE_EXTERN torch::Tensor* lade_reduce(int32_t op, torch::Tensor* a, int32_t dim, int32_t keepdim, int32_t all_dims) {
  return guard_tensor([&] { return all_dims ? reduce_all(op, T(a)) : reduce_dim(op, T(a), dim, keepdim != 0); });
}

/// An op along one dimension (see enum DimOp).
LADE_EXTERN torch::Tensor* lade_dim_op(int32_t op, torch::Tensor* a, int32_t dim) {
  return guard_tensor([&] { return dim_op(op, T(a), dim); });
}

/// Casts and/or moves: dtype -1 keeps the dtype, device_type -1 keeps the device.
LADE_EXTERN torch::Tensor* lade_to(torch::Tensor* a, int32_t dtype, int32_t device_type, int32_t device_index,
                                   int32_t non_blocking) {
  return guard_tensor([&] {
    const auto& t = T(a);
    const auto st = dtype < 0 ? t.scalar_type() : to_scalar_type(dtype);
    const auto dev = device_type < 0 ? t.device() : to_device(device_type, device_index);
    return t.to(dev, st, non_blocking != 0);
  });
}

/// Clamps to [lo, hi]; has_lo / has_hi say which bounds apply.
LADE_EXTERN torch::Tensor* lade_clamp(torch::Tensor* a, double lo, int32_t has_lo, double hi, int32_t has_hi) {
  return guard_tensor([&] {
    return T(a).clamp(has_lo ? c10::optional<torch::Scalar>(lo) : c10::nullopt,
                      has_hi ? c10::optional<torch::Scalar>(hi) : c10::nullopt);
  });
}

/// Elementwise choice: cond ? a : b (broadcasting).
LADE_EXTERN torch::Tensor* lade_where(torch::Tensor* cond, torch::Tensor* a, torch::Tensor* b) {
  return guard_tensor([&] { return torch::where(T(cond), T(a), T(b)); });
}

/// Gathers values along `dim` at int64 `index`.
LADE_EXTERN torch::Tensor* lade_gather(torch::Tensor* a, int32_t dim, torch::Tensor* index) {
  return guard_tensor([&] { return T(a).gather(dim, T(index)); });
}

/// Adds `src` into a copy of `a` at `index` along `dim` (scatter_add).
LADE_EXTERN torch::Tensor* lade_scatter_add(torch::Tensor* a, int32_t dim, torch::Tensor* index, torch::Tensor* src) {
  return guard_tensor([&] { return T(a).scatter_add(dim, T(index), T(src)); });
}

/// Rows (or slices along `dim`) picked by an int64 index vector.
LADE_EXTERN torch::Tensor* lade_index_select(torch::Tensor* a, int32_t dim, torch::Tensor* index) {
  return guard_tensor([&] { return T(a).index_select(dim, T(index)); });
}

/// The elements where the bool `mask` is true, as a 1-D tensor.
LADE_EXTERN torch::Tensor* lade_masked_select(torch::Tensor* a, torch::Tensor* mask) {
  return guard_tensor([&] { return T(a).masked_select(T(mask)); });
}

/// A copy of `a` with `value` where `mask` is true.
LADE_EXTERN torch::Tensor* lade_masked_fill(torch::Tensor* a, torch::Tensor* mask, double value) {
  return guard_tensor([&] { return T(a).masked_fill(T(mask), value); });
}

/// One-hot encoding of int64 labels into `classes` columns (int64).
LADE_EXTERN torch::Tensor* lade_one_hot(torch::Tensor* a, int32_t classes) {
  return guard_tensor([&] { return torch::one_hot(T(a), classes); });
}

/// Counts of each non-negative int value, with at least `minlength` bins.
LADE_EXTERN torch::Tensor* lade_bincount(torch::Tensor* a, int32_t minlength) {
  return guard_tensor([&] { return T(a).bincount({}, minlength); });
}

/// The k largest (or smallest) values along `dim`; writes (values, indices) handles into out[0], out[1].
LADE_EXTERN int32_t lade_topk(torch::Tensor* a, int32_t k, int32_t dim, int32_t largest, torch::Tensor** out) {
  return guard_status([&] {
    auto r = T(a).topk(k, dim, largest != 0, true);
    out[0] = wrap(std::get<0>(r));
    out[1] = wrap(std::get<1>(r));
  });
}

/// A view with a new shape (-1 infers one size).
LADE_EXTERN torch::Tensor* lade_reshape(torch::Tensor* a, const int64_t* shape, int32_t ndim) {
  return guard_tensor([&] { return T(a).reshape(to_vec(shape, ndim)); });
}

/// Broadcasts to a larger shape (-1 keeps a size).
LADE_EXTERN torch::Tensor* lade_expand(torch::Tensor* a, const int64_t* shape, int32_t ndim) {
  return guard_tensor([&] { return T(a).expand(to_vec(shape, ndim)); });
}

/// Reorders the dimensions.
LADE_EXTERN torch::Tensor* lade_permute(torch::Tensor* a, const int64_t* dims, int32_t ndim) {
  return guard_tensor([&] { return T(a).permute(to_vec(dims, ndim)); });
}

/// Swaps two dimensions.
LADE_EXTERN torch::Tensor* lade_transpose(torch::Tensor* a, int32_t d0, int32_t d1) {
  return guard_tensor([&] { return T(a).transpose(d0, d1); });
}

/// Reverses the order along the given dimensions.
LADE_EXTERN torch::Tensor* lade_flip(torch::Tensor* a, const int64_t* dims, int32_t ndim) {
  return guard_tensor([&] { return T(a).flip(to_vec(dims, ndim)); });
}

/// `length` slices along `dim` from `start`.
LADE_EXTERN torch::Tensor* lade_narrow(torch::Tensor* a, int32_t dim, int64_t start, int64_t length) {
  return guard_tensor([&] { return T(a).narrow(dim, start, length); });
}

/// Slices along `dim` from start to end (exclusive) with a step.
LADE_EXTERN torch::Tensor* lade_slice(torch::Tensor* a, int32_t dim, int64_t start, int64_t end, int64_t step) {
  return guard_tensor([&] { return T(a).slice(dim, start, end, step); });
}

/// The slice at `index` along `dim`, with that dimension removed.
LADE_EXTERN torch::Tensor* lade_select(torch::Tensor* a, int32_t dim, int64_t index) {
  return guard_tensor([&] { return T(a).select(dim, index); });
}

/// Constant padding; `pads` lists (before, after) pairs from the last dimension backwards, as in F.pad.
LADE_EXTERN torch::Tensor* lade_pad(torch::Tensor* a, const int64_t* pads, int64_t n, double value) {
  return guard_tensor([&] { return torch::constant_pad_nd(T(a), to_vec(pads, n), value); });
}

/// Joins tensors along an existing dimension.
LADE_EXTERN torch::Tensor* lade_cat(torch::Tensor* const* hs, int32_t n, int32_t dim) {
  return guard_tensor([&] { return torch::cat(handles(hs, n), dim); });
}

/// Joins tensors along a new dimension.
LADE_EXTERN torch::Tensor* lade_stack(torch::Tensor* const* hs, int32_t n, int32_t dim) {
  return guard_tensor([&] { return torch::stack(handles(hs, n), dim); });
}
