// Colour jitter of the image-list training batches (data_batch.cpp), as the
// official LADE code ran it: torchvision's ColorJitter(brightness, contrast,
// saturation, hue = 0) on PIL images, which calls Pillow's ImageEnhance. No
// libtorch here.
#pragma once

#include <cstdint>

namespace lade::data {

/// Which adjustment: the indices of ColorJitterDraw::factors and ::order.
enum JitterOp : int32_t { kBrightness = 0, kContrast = 1, kSaturation = 2 };

/// One sample's jitter: a factor per adjustment (1 leaves it out) and the
/// order the three run in.
struct ColorJitterDraw {
  float factors[3] = {1, 1, 1};
  int32_t order[3] = {0, 1, 2};
};

/// The draws of sample (seed, epoch, position) for strengths s[3] (brightness,
/// contrast, saturation; 0 turns one off): a random order of the three (a
/// shuffle, as torchvision's randperm) and each factor uniform in
/// [max(0, 1 - s), 1 + s]. Keyed like the crop draws (data_rng.h), from a
/// stream of their own, so turning jitter on leaves the crops and flips as
/// they were and an epoch replays exactly.
ColorJitterDraw draw_color_jitter(uint64_t seed, int64_t epoch, int64_t position,
                                  const float strength[3]);

/// Applies `d` in place to a planar (CHW) uint8 image with `channels` 3 (a grey
/// image is left as it is), each adjustment in d.order, as Pillow does on an
/// RGB image: every step blends with a degenerate image in float32 and
/// truncates to uint8, clamped to 0..255:
/// - brightness: blend with black (x * f);
/// - contrast: blend with the grey level int(mean(L) + 0.5) of the image;
/// - saturation: blend with the image's own grey L;
/// L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (Pillow's convert("L")).
void apply_color_jitter(uint8_t* pixels, int channels, int64_t height, int64_t width,
                        const ColorJitterDraw& d);

}  // namespace lade::data
