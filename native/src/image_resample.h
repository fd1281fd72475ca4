// Resampling of decoded images for the data loaders (data_batch.cpp). No
// libtorch here.
#pragma once

#include <cstdint>

#include "image_codec.h"

namespace lade::data {

/// Resamples the box (x0, y0, w, h) of `src` (source pixel units, may be
/// fractional) to out_w x out_h with a triangle (bilinear) filter widened when
/// shrinking, so large reductions average instead of aliasing. Writes planar
/// CHW uint8 into `dst` with `out_channels` channels (grey is replicated to
/// RGB), mirrored left-right when `flip`.
void resample_box(const Image& src, double x0, double y0, double w, double h, int out_w, int out_h,
                  int out_channels, bool flip, uint8_t* dst);

/// Evaluation's view of an image, equal to torchvision's Resize(resize_to)
/// then CenterCrop(size) on a PIL image (the image-list loader evaluates with
/// resize_to = size * 256 / 224): the shorter side resized to `resize_to` by
/// Pillow's antialiased bilinear filter, computed as Pillow computes it (8-bit
/// fixed point, horizontal pass first), then the centre `size` x `size` square
/// (offsets rounded half to even). `img` must be decoded at full size (no
/// DCT scaling), as PIL decodes. Writes planar CHW uint8 with `out_channels`
/// channels into `dst`; with one output channel, a colour image is first
/// turned grey as PIL's convert("L") does; a grey one is replicated to RGB.
void centre_crop(const Image& img, int size, int resize_to, int out_channels, uint8_t* dst);

}  // namespace lade::data
