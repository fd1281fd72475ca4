// What lade's two oneDNN paths share (native/src/infer_dnnl.cpp for
// inference, native/src/train_dnnl.cpp for training convolutions): the CPU
// engine and oneDNN memory over libtorch storage.
// Only for builds with LADE_WITH_DNNL (Debian's libtorch beside libdnnl-dev).
#pragma once
#ifdef LADE_WITH_DNNL
#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>

#include "common.h"

namespace lade::dnnl_util {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

/// The one CPU engine of the process.
inline dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

/// A float buffer from libtorch's allocator, and a oneDNN memory over it.
struct Buffer {
  torch::Tensor storage;
  dnnl::memory mem;
};

/// A new buffer of `desc`'s size.
inline Buffer make_buffer(const memory::desc& desc) {
  auto floats = static_cast<int64_t>((desc.get_size() + sizeof(float) - 1) / sizeof(float));
  Buffer b;
  b.storage = torch::empty({std::max<int64_t>(floats, 1)}, torch::kFloat);
  b.mem = memory(desc, cpu_engine(), b.storage.data_ptr());
  return b;
}

/// `from` in the layout `desc` (itself when it already is).
inline Buffer to_layout(Buffer from, const memory::desc& desc, dnnl::stream& stream) {
  if (from.mem.get_desc() == desc) return from;
  Buffer out = make_buffer(desc);
  dnnl::reorder(from.mem, out.mem).execute(stream, from.mem, out.mem);
  return out;
}

/// A dense float libtorch tensor as oneDNN memory of its own sizes and
/// strides (any plain layout: NCHW, NHWC, a weight's OIHW or OHWI), held.
inline Buffer wrap_strided(const torch::Tensor& t) {
  Buffer b;
  b.storage = t;
  memory::dims dims(t.sizes().begin(), t.sizes().end());
  memory::dims strides(t.strides().begin(), t.strides().end());
  b.mem = memory(memory::desc(dims, dt::f32, strides), cpu_engine(), t.data_ptr());
  return b;
}

/// `from` (a [N, C, H, W] memory, any layout) copied into a new libtorch
/// tensor of memory format `format`.
inline torch::Tensor to_tensor(Buffer from, at::MemoryFormat format, dnnl::stream& stream) {
  const auto dims = from.mem.get_desc().dims();
  auto out = torch::empty({dims[0], dims[1], dims[2], dims[3]},
                          torch::TensorOptions().dtype(torch::kFloat).memory_format(format));
  auto target = wrap_strided(out);
  dnnl::reorder(from.mem, target.mem).execute(stream, from.mem, target.mem);
  stream.wait();
  return out;
}

/// Attributes of a primitive whose scratch memory the caller passes at each
/// run (run_with_scratchpad), from libtorch's allocator, as libtorch's own
/// oneDNN calls do. With the library's own scratchpad, a Winograd forward
/// pass wrote through a null pointer in a test process where libtorch's
/// primitives had run first.
inline dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

/// Runs `primitive` (made with user_scratchpad()) on `args`, with a scratch
/// buffer of the size its descriptor `pd` asks for.
inline void run_with_scratchpad(const dnnl::primitive& primitive,
                                const dnnl::primitive_desc_base& pd,
                                std::unordered_map<int, memory> args, dnnl::stream& stream) {
  Buffer scratch = make_buffer(pd.scratchpad_desc());
  args.emplace(DNNL_ARG_SCRATCHPAD, scratch.mem);
  primitive.execute(stream, args);
}

}  // namespace lade::dnnl_util

#endif
