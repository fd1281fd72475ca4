// The C ABI for single images (read, write, probe, verify, colour jitter)
// that the tests, `data inspect` and `data verify` use, over the codecs of
// image_codec.cpp.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "color_jitter.h"
#include "common.h"
#include "image_codec.h"
#include "image_resample.h"

using namespace lade;
using namespace lade::data;

namespace {

/// The NUL-separated paths of an image list.
std::vector<std::string> split_paths(const char* paths, int64_t nbytes, int32_t n) {
  if (n < 0 || nbytes < 0 || (n > 0 && !paths)) throw std::invalid_argument("bad path list");
  std::vector<std::string> list;
  list.reserve(static_cast<size_t>(n));
  const char* p = paths;
  const char* end = paths + nbytes;
  while (p < end && static_cast<int32_t>(list.size()) < n) {
    const size_t len = strnlen(p, static_cast<size_t>(end - p));
    list.emplace_back(p, len);
    p += len + 1;
  }
  if (static_cast<int32_t>(list.size()) != n) throw std::invalid_argument("fewer paths than n");
  return list;
}

/// Runs work(i) for i in 0..n-1 on up to `threads` threads (at least one, at most 256).
template <class F>
void parallel_for(int32_t n, int32_t threads, int32_t per_thread, F&& work) {
  std::atomic<int64_t> next{0};
  auto loop = [&] {
    for (int64_t i; (i = next.fetch_add(1)) < n;) work(i);
  };
  const int count = std::max(1, std::min({threads, n / std::max(1, per_thread) + 1, 256}));
  std::vector<std::thread> pool;
  for (int t = 1; t < count; t++) pool.emplace_back(loop);
  loop();
  for (auto& t : pool) t.join();
}

}  // namespace

LADE_EXTERN lade_tensor* lade_image_read(const char* path, int64_t max_pixels) {
  return guard_tensor([&] {
    if (!path) throw std::invalid_argument("null path");
    const Image img =
        decode_image(read_file(path, max_file_bytes(max_pixels)), path, 0, max_pixels);
    auto hwc = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()),
                                {img.height, img.width, img.channels}, torch::kUInt8);
    // clone, not contiguous(): with one channel the permuted view already
    // counts as contiguous and would still point into `img`, about to be freed.
    return hwc.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
  });
}

LADE_EXTERN lade_tensor* lade_image_prepare(const char* path, int32_t size, int32_t resize_to,
                                            int32_t channels, int64_t max_pixels) {
  return guard_tensor([&] {
    if (!path) throw std::invalid_argument("null path");
    if (size < 1 || resize_to < size) {
      throw std::invalid_argument("image_prepare: need 1 <= size <= resize_to");
    }
    if (channels != 1 && channels != 3) {
      throw std::invalid_argument("image_prepare: channels must be 1 or 3");
    }
    // Decoded at full size, as PIL decodes (no DCT scaling): the resize is
    // then torchvision's, pixel for pixel.
    const Image img =
        decode_image(read_file(path, max_file_bytes(max_pixels)), path, 0, max_pixels);
    auto out = torch::empty({channels, size, size}, torch::kUInt8);
    centre_crop(img, size, resize_to, channels, out.data_ptr<uint8_t>());
    return out;
  });
}

LADE_EXTERN int32_t lade_image_write(lade_tensor* image, const char* path, int32_t quality) {
  return guard_status([&] {
    const auto& t = T(image);
    if (t.scalar_type() != torch::kUInt8 || t.dim() != 3) {
      throw std::invalid_argument("image to write must be a uint8 tensor [C, H, W]");
    }
    const auto hwc = t.to(torch::kCPU).permute({1, 2, 0}).contiguous();
    write_image(path, hwc.data_ptr<uint8_t>(), static_cast<int>(t.size(2)),
                static_cast<int>(t.size(1)), static_cast<int>(t.size(0)), quality);
  });
}

LADE_EXTERN int32_t lade_image_probe(const char* paths, int64_t nbytes, int32_t n, int32_t threads,
                                     int64_t max_pixels, int32_t* out) {
  return guard_value<int32_t>(-1, [&]() -> int32_t {
    const auto list = split_paths(paths, nbytes, n);
    std::vector<std::string> errors(list.size());
    parallel_for(n, threads, 64, [&](int64_t i) {
      try {
        const ImageInfo info = probe_image(list[i], max_pixels);
        out[3 * i] = info.width, out[3 * i + 1] = info.height, out[3 * i + 2] = info.channels;
      } catch (const std::exception& e) {
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = 0;
        errors[i] = e.what();
      }
    });
    int32_t bad = 0;
    for (const auto& e : errors) {
      if (e.empty()) continue;
      if (bad++ == 0) set_error(e);
    }
    return bad;
  });
}

LADE_EXTERN lade_tensor* lade_image_verify(const char* paths, int64_t nbytes, int32_t n,
                                           int32_t threads, int64_t max_pixels) {
  return guard_tensor([&] {
    const auto list = split_paths(paths, nbytes, n);
    std::vector<std::string> errors(list.size());
    parallel_for(n, threads, 1, [&](int64_t i) {
      try {
        // Scaled JPEG decoding still reads every coefficient, so corrupt
        // entropy data is found at a fraction of the cost.
        (void)decode_image(read_file(list[i], max_file_bytes(max_pixels)), list[i], 1, max_pixels);
      } catch (const std::exception& e) {
        errors[i] = e.what();
        if (errors[i].empty()) errors[i] = "unreadable image " + list[i];
      }
    });
    size_t total = 0;
    for (const auto& e : errors) total += e.size() + 1;
    auto bytes = torch::empty({static_cast<int64_t>(total)}, torch::kUInt8);
    auto* dst = bytes.data_ptr<uint8_t>();
    for (const auto& e : errors) {
      std::memcpy(dst, e.data(), e.size());
      dst += e.size();
      *dst++ = 0;
    }
    return bytes;
  });
}

LADE_EXTERN int32_t lade_color_jitter_draw(uint64_t seed, int32_t epoch, int64_t position,
                                           const float* strength, float* factors, int32_t* order) {
  return guard_status([&] {
    const ColorJitterDraw d = draw_color_jitter(seed, epoch, position, strength);
    std::copy(d.factors, d.factors + 3, factors);
    std::copy(d.order, d.order + 3, order);
  });
}

LADE_EXTERN lade_tensor* lade_image_color_jitter(lade_tensor* image, const float* factors,
                                                 const int32_t* order) {
  return guard_tensor([&] {
    const auto& t = T(image);
    if (t.scalar_type() != torch::kUInt8 || t.dim() != 3 || t.size(0) != 3) {
      throw std::invalid_argument("colour jitter needs a uint8 image tensor [3, H, W]");
    }
    ColorJitterDraw d;
    bool seen[3] = {false, false, false};
    for (int k = 0; k < 3; k++) {
      if (order[k] < 0 || order[k] > 2 || seen[order[k]])
        throw std::invalid_argument("colour jitter order must be a permutation of 0, 1, 2");
      seen[order[k]] = true;
      d.order[k] = order[k];
      if (!(factors[k] >= 0 && std::isfinite(factors[k])))
        throw std::invalid_argument("colour jitter factors must be finite and >= 0");
      d.factors[k] = factors[k];
    }
    auto out = t.to(torch::kCPU).clone(at::MemoryFormat::Contiguous);
    apply_color_jitter(out.data_ptr<uint8_t>(), 3, out.size(1), out.size(2), d);
    return out;
  });
}
