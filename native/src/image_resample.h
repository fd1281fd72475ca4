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

}  // namespace lade::data
