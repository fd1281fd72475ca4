// Colour jitter with Pillow's arithmetic (see color_jitter.h).
#include "color_jitter.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "data_rng.h"

namespace lade::data {
namespace {

/// Keeps the jitter draws apart from the crop draws of the same sample.
constexpr uint64_t kJitterStream = 0x636f6c6f726a6974ull;  // "colorjit"

/// Pillow's Image.blend of one 8-bit value: degenerate + f * (value -
/// degenerate) in float32, clamped, truncated. The product is stored before
/// the sum so that no fused multiply-add changes the rounding.
inline uint8_t blend(int degenerate, int value, float f) {
  volatile float product = f * static_cast<float>(value - degenerate);
  const float t = static_cast<float>(degenerate) + product;
  if (t <= 0.0f) return 0;
  if (t >= 255.0f) return 255;
  return static_cast<uint8_t>(t);
}

/// Pillow's RGB to L conversion of one pixel.
inline int grey(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

}  // namespace

ColorJitterDraw draw_color_jitter(uint64_t seed, int64_t epoch, int64_t position,
                                  const float strength[3]) {
  Rng rng(seed ^ kJitterStream, epoch, position);
  ColorJitterDraw d;
  // Fisher-Yates over the three adjustments.
  for (int i = 2; i > 0; i--) std::swap(d.order[i], d.order[rng.below(i + 1)]);
  for (int k = 0; k < 3; k++) {
    const double s = strength[k];
    const double u = rng.uniform();  // drawn for every k, so each factor has a fixed place
    if (s > 0) {
      const double lo = std::max(0.0, 1.0 - s), hi = 1.0 + s;
      d.factors[k] = static_cast<float>(lo + (hi - lo) * u);
    }
  }
  return d;
}

void apply_color_jitter(uint8_t* pixels, int channels, int64_t height, int64_t width,
                        const ColorJitterDraw& d) {
  if (channels != 3) return;
  const int64_t plane = height * width;
  uint8_t* r = pixels;
  uint8_t* g = pixels + plane;
  uint8_t* b = pixels + 2 * plane;
  for (int step = 0; step < 3; step++) {
    const int op = d.order[step];
    const float f = d.factors[op];
    if (f == 1.0f) continue;  // blending with factor 1 returns the image itself
    if (op == kBrightness) {
      for (int64_t i = 0; i < 3 * plane; i++) pixels[i] = blend(0, pixels[i], f);
    } else if (op == kContrast) {
      double sum = 0;
      for (int64_t i = 0; i < plane; i++) sum += grey(r[i], g[i], b[i]);
      const int mean = static_cast<int>(sum / static_cast<double>(plane) + 0.5);
      for (int64_t i = 0; i < 3 * plane; i++) pixels[i] = blend(mean, pixels[i], f);
    } else {
      for (int64_t i = 0; i < plane; i++) {
        const int l = grey(r[i], g[i], b[i]);
        r[i] = blend(l, r[i], f), g[i] = blend(l, g[i], f), b[i] = blend(l, b[i], f);
      }
    }
  }
}

}  // namespace lade::data
