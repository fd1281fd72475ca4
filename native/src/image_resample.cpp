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

namespace {

// Pillow's antialiased bilinear resize of 8-bit images (libImaging/Resample.c,
// Pillow 4 to 10), reproduced operation for operation so that predict's and
// evaluation's view of an image equals torchvision's Resize on a PIL image:
// a triangle filter widened by the scale when shrinking, coefficients in
// fixed point with 22 fractional bits, the horizontal pass first, and each
// pass rounded to 8 bits.
constexpr int kPillowBits = 32 - 8 - 2;

struct PillowTaps {
  int ksize = 0;
  std::vector<int> bounds;  // per output pixel: first source index, tap count
  std::vector<int32_t> k;   // ksize fixed-point weights per output pixel
};

PillowTaps pillow_taps(int in_size, int out_size) {
  PillowTaps t;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;  // the bilinear filter's support is 1
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.bounds.resize(static_cast<size_t>(out_size) * 2);
  t.k.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> pre(static_cast<size_t>(t.ksize));
  for (int xx = 0; xx < out_size; xx++) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // C's truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      const double a = std::abs((x + xmin - center + 0.5) * ss);
      pre[x] = a < 1.0 ? 1.0 - a : 0.0;
      ww += pre[x];
    }
    for (int x = 0; x < xmax; x++) {
      if (ww != 0.0) pre[x] /= ww;
      const double v = pre[x] * (1 << kPillowBits);
      t.k[static_cast<size_t>(xx) * t.ksize + x] =
          static_cast<int32_t>(pre[x] < 0 ? -0.5 + v : 0.5 + v);
    }
    t.bounds[xx * 2] = xmin;
    t.bounds[xx * 2 + 1] = xmax;
  }
  return t;
}

uint8_t pillow_clip8(int32_t v) {
  const int32_t shifted = v >> kPillowBits;
  return static_cast<uint8_t>(shifted < 0 ? 0 : shifted > 255 ? 255 : shifted);
}

// Source rows [row0, row0 + rows) of `in` resized along x to `out_w`.
Image pillow_horizontal(const Image& in, int out_w, int row0, int rows, const PillowTaps& t) {
  Image out;
  out.width = out_w, out.height = rows, out.channels = in.channels;
  out.pixels.resize(static_cast<size_t>(out_w) * rows * in.channels);
  const int c_in = in.channels;
  for (int y = 0; y < rows; y++) {
    const uint8_t* line = in.pixels.data() + static_cast<size_t>(y + row0) * in.width * c_in;
    uint8_t* o = out.pixels.data() + static_cast<size_t>(y) * out_w * c_in;
    for (int xx = 0; xx < out_w; xx++) {
      const int xmin = t.bounds[xx * 2], xmax = t.bounds[xx * 2 + 1];
      const int32_t* k = t.k.data() + static_cast<size_t>(xx) * t.ksize;
      for (int c = 0; c < c_in; c++) {
        int32_t ss = 1 << (kPillowBits - 1);
        for (int x = 0; x < xmax; x++) ss += line[(x + xmin) * c_in + c] * k[x];
        o[xx * c_in + c] = pillow_clip8(ss);
      }
    }
  }
  return out;
}

// `in` resized along y to `out_h`; the taps' first rows are relative to `in`.
Image pillow_vertical(const Image& in, int out_h, const PillowTaps& t) {
  Image out;
  out.width = in.width, out.height = out_h, out.channels = in.channels;
  const size_t row = static_cast<size_t>(in.width) * in.channels;
  out.pixels.resize(row * out_h);
  for (int yy = 0; yy < out_h; yy++) {
    const int ymin = t.bounds[yy * 2], ymax = t.bounds[yy * 2 + 1];
    const int32_t* k = t.k.data() + static_cast<size_t>(yy) * t.ksize;
    uint8_t* o = out.pixels.data() + static_cast<size_t>(yy) * row;
    for (size_t i = 0; i < row; i++) {
      int32_t ss = 1 << (kPillowBits - 1);
      for (int y = 0; y < ymax; y++)
        ss += in.pixels[static_cast<size_t>(y + ymin) * row + i] * k[y];
      o[i] = pillow_clip8(ss);
    }
  }
  return out;
}

// Pillow's Image.resize((out_w, out_h), BILINEAR) of an interleaved 8-bit image.
Image pillow_resize(const Image& in, int out_w, int out_h) {
  if (out_w == in.width && out_h == in.height) return in;
  const PillowTaps tx = pillow_taps(in.width, out_w);
  PillowTaps ty = pillow_taps(in.height, out_h);
  // Only the source rows the vertical pass reads go through the horizontal one.
  const int first = ty.bounds[0];
  const int last = ty.bounds[out_h * 2 - 2] + ty.bounds[out_h * 2 - 1];
  Image tmp;
  const Image* src = &in;
  if (out_w != in.width) {
    for (int i = 0; i < out_h; i++) ty.bounds[i * 2] -= first;
    tmp = pillow_horizontal(in, out_w, first, last - first, tx);
    src = &tmp;
  }
  return out_h != in.height ? pillow_vertical(*src, out_h, ty) : *src;
}

// PIL's convert("L"): ITU-R 601 luma in 16-bit fixed point, rounded.
Image pillow_grey(const Image& img) {
  Image grey;
  grey.width = img.width, grey.height = img.height, grey.channels = 1;
  grey.pixels.resize(static_cast<size_t>(img.width) * img.height);
  for (size_t i = 0; i < grey.pixels.size(); i++) {
    const uint8_t* rgb = img.pixels.data() + 3 * i;
    grey.pixels[i] =
        static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
  }
  return grey;
}

}  // namespace

void centre_crop(const Image& img, int size, int resize_to, int out_channels, uint8_t* dst) {
  // torchvision's Resize(resize_to) on a PIL image: the shorter side to
  // resize_to, the longer int(resize_to * long / short); nothing when the
  // size is already that.
  const Image grey = out_channels == 1 && img.channels == 3 ? pillow_grey(img) : Image{};
  const Image& src = grey.channels == 1 ? grey : img;
  const int w = src.width, h = src.height;
  const bool portrait = w <= h;
  const int shorter = portrait ? w : h, longer = portrait ? h : w;
  const int scaled = static_cast<int>(static_cast<double>(resize_to) * longer / shorter);
  const int new_w = portrait ? resize_to : scaled, new_h = portrait ? scaled : resize_to;
  const Image resized = pillow_resize(src, new_w, new_h);
  // CenterCrop(size): the offsets rounded half to even, as Python's round().
  const int top = static_cast<int>(std::nearbyint((new_h - size) / 2.0));
  const int left = static_cast<int>(std::nearbyint((new_w - size) / 2.0));
  const size_t plane = static_cast<size_t>(size) * size;
  const int c_in = resized.channels;
  for (int c = 0; c < out_channels; c++) {
    const int cs = c_in == 1 ? 0 : c;
    for (int y = 0; y < size; y++) {
      const uint8_t* line =
          resized.pixels.data() + (static_cast<size_t>(y + top) * resized.width + left) * c_in;
      uint8_t* out = dst + c * plane + static_cast<size_t>(y) * size;
      for (int x = 0; x < size; x++) out[x] = line[x * c_in + cs];
    }
  }
}

}  // namespace lade::data
