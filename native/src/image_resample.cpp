// Box resampling with a triangle filter for the data loaders: crops and
// resizes a decoded image into a planar uint8 buffer. No libtorch here.
#include "image_resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lade::data {

namespace {

// Filter taps of one output axis: for output pixel o, `count[o]` source
// indices from `first[o]` on, with weights summing to 1.
struct Taps {
  std::vector<int> start;  // offset of o's taps in index/weight
  std::vector<int> count;
  std::vector<int> index;  // clamped source index
  std::vector<float> weight;
};

Taps make_taps(double origin, double length, int out, int limit) {
  Taps t;
  t.start.resize(out);
  t.count.resize(out);
  const double scale = length / out;
  const double support = std::max(1.0, scale);  // widen the triangle when shrinking
  for (int o = 0; o < out; o++) {
    const double centre = origin + (o + 0.5) * scale - 0.5;
    const int lo = static_cast<int>(std::ceil(centre - support));
    const int hi = static_cast<int>(std::floor(centre + support));
    t.start[o] = static_cast<int>(t.index.size());
    double total = 0;
    const size_t begin = t.weight.size();
    for (int j = lo; j <= hi; j++) {
      const double w = 1.0 - std::abs(j - centre) / support;
      if (w <= 0) continue;
      t.index.push_back(std::clamp(j, 0, limit - 1));
      t.weight.push_back(static_cast<float>(w));
      total += w;
    }
    if (t.weight.size() == begin) {  // degenerate box: nearest pixel
      t.index.push_back(std::clamp(static_cast<int>(std::lround(centre)), 0, limit - 1));
      t.weight.push_back(1.0f);
      total = 1.0;
    }
    for (size_t k = begin; k < t.weight.size(); k++)
      t.weight[k] = static_cast<float>(t.weight[k] / total);
    t.count[o] = static_cast<int>(t.weight.size() - begin);
  }
  return t;
}

}  // namespace

void resample_box(const Image& src, double x0, double y0, double w, double h, int out_w, int out_h,
                  int out_channels, bool flip, uint8_t* dst) {
  const Taps tx = make_taps(x0, w, out_w, src.width);
  const Taps ty = make_taps(y0, h, out_h, src.height);
  const int c_in = src.channels;
  // Horizontal pass over the source rows the vertical taps touch.
  int row_lo = src.height, row_hi = -1;
  for (int idx : ty.index) row_lo = std::min(row_lo, idx), row_hi = std::max(row_hi, idx);
  const int rows = row_hi - row_lo + 1;
  std::vector<float> tmp(static_cast<size_t>(rows) * out_w * c_in);
  for (int r = 0; r < rows; r++) {
    const uint8_t* line = src.pixels.data() + static_cast<size_t>(r + row_lo) * src.width * c_in;
    float* o = tmp.data() + static_cast<size_t>(r) * out_w * c_in;
    for (int x = 0; x < out_w; x++) {
      const int s = tx.start[x], n = tx.count[x];
      for (int c = 0; c < c_in; c++) {
        float acc = 0;
        for (int k = 0; k < n; k++) acc += tx.weight[s + k] * line[tx.index[s + k] * c_in + c];
        o[x * c_in + c] = acc;
      }
    }
  }
  const size_t plane = static_cast<size_t>(out_w) * out_h;
  for (int y = 0; y < out_h; y++) {
    const int s = ty.start[y], n = ty.count[y];
    for (int x = 0; x < out_w; x++) {
      const int ox = flip ? out_w - 1 - x : x;
      for (int c = 0; c < out_channels; c++) {
        const int cs = c_in == 1 ? 0 : c;
        float acc = 0;
        for (int k = 0; k < n; k++) {
          acc += ty.weight[s + k] *
                 tmp[(static_cast<size_t>(ty.index[s + k] - row_lo) * out_w + x) * c_in + cs];
        }
        const float v = std::nearbyint(acc);
        dst[c * plane + static_cast<size_t>(y) * out_w + ox] =
            static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
      }
    }
  }
}

void centre_crop(const Image& img, int size, int resize_to, int out_channels, uint8_t* dst) {
  const double W = img.width, H = img.height;
  const double side = std::min(W, H) * size / resize_to;
  if (out_channels == 1 && img.channels == 3) {
    Image grey;
    grey.width = img.width, grey.height = img.height, grey.channels = 1;
    grey.pixels.resize(static_cast<size_t>(img.width) * img.height);
    for (size_t i = 0; i < grey.pixels.size(); i++) {
      const uint8_t* rgb = img.pixels.data() + 3 * i;
      grey.pixels[i] = static_cast<uint8_t>((rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000);
    }
    resample_box(grey, (W - side) / 2, (H - side) / 2, side, side, size, size, 1, false, dst);
    return;
  }
  resample_box(img, (W - side) / 2, (H - side) / 2, side, side, size, size, out_channels, false,
               dst);
}

}  // namespace lade::data
