// JPEG and PNG decoding (libjpeg-turbo, libpng), encoding, header probing and
// box resampling for image-list datasets, plus the C ABI for single images
// (read, write, probe) that the tests and `data inspect` use.
//
// libjpeg reports fatal errors through a callback that must not return; it
// longjmps back to the decoding function, which then throws a C++ exception
// (never through libjpeg's C frames). libpng's simplified API reports errors
// in its control structure, so it needs no jump.
#include "data_image.h"

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "common.h"

namespace lade::data {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open image file " + path);
  const std::streamsize size = in.tellg();
  if (size < 0) throw std::runtime_error("cannot read image file " + path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw std::runtime_error("cannot read image file " + path);
  }
  return bytes;
}

namespace {

bool is_jpeg(const uint8_t* b, size_t n) { return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
bool is_png(const uint8_t* b, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(b, sig, 8) == 0;
}

// ---------------------------------------------------------------- JPEG

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  bool truncated;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// Warnings are not printed; a premature end of data marks the image truncated
// (libjpeg would otherwise fill the rest with grey and carry on).
void jpeg_message(j_common_ptr cinfo, int level) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = true;
}

// Decodes into *out; returns false with `message` filled on failure. Only
// plain C state lives in this frame across setjmp.
bool jpeg_decode_raw(const uint8_t* data, size_t size, int min_side, Image* out, char* message) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.truncated = false;
  if (setjmp(err.jump)) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
  if (min_side > 0) {
    // DCT-domain scaling is far cheaper than decoding at full size and shrinking.
    const unsigned side = std::min(cinfo.image_width, cinfo.image_height);
    for (unsigned denom : {8u, 4u, 2u}) {
      if ((side + denom - 1) / denom >= static_cast<unsigned>(min_side)) {
        cinfo.scale_num = 1;
        cinfo.scale_denom = denom;
        break;
      }
    }
  }
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width);
  const int h = static_cast<int>(cinfo.output_height);
  const int comps = cinfo.output_components;
  out->width = w;
  out->height = h;
  out->channels = cmyk ? 3 : comps;
  out->pixels.resize(static_cast<size_t>(w) * h * out->channels);
  std::vector<uint8_t> row(cmyk ? static_cast<size_t>(w) * 4 : 0);
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t y = cinfo.output_scanline;
    uint8_t* dst = out->pixels.data() + y * w * out->channels;
    JSAMPROW rows[1] = {cmyk ? row.data() : dst};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (cmyk) {
      // Adobe writes inverted CMYK; convert the usual way (as PIL and stb do).
      const bool inverted = cinfo.saw_Adobe_marker;
      for (int x = 0; x < w; x++) {
        int c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
        if (!inverted) c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
        dst[3 * x] = static_cast<uint8_t>(c * k / 255);
        dst[3 * x + 1] = static_cast<uint8_t>(m * k / 255);
        dst[3 * x + 2] = static_cast<uint8_t>(yy * k / 255);
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  const bool truncated = err.truncated;
  jpeg_destroy_decompress(&cinfo);
  if (truncated) {
    std::snprintf(message, JMSG_LENGTH_MAX, "premature end of JPEG data (truncated file)");
    return false;
  }
  return true;
}

bool jpeg_encode_raw(const uint8_t* pixels, int width, int height, int channels, int quality,
                     unsigned char** buffer, unsigned long* size, char* message) {
  jpeg_compress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  if (setjmp(err.jump)) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, buffer, size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = channels;
  cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (quality >= 95) {
    // No chroma subsampling, so flat colours survive a round trip closely.
    for (int i = 0; i < cinfo.num_components; i++) {
      cinfo.comp_info[i].h_samp_factor = 1;
      cinfo.comp_info[i].v_samp_factor = 1;
    }
  }
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW rows[1] = {const_cast<uint8_t*>(pixels) + static_cast<size_t>(cinfo.next_scanline) * width * channels};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

// ---------------------------------------------------------------- PNG

Image png_decode(const std::vector<uint8_t>& bytes, const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    throw std::runtime_error("cannot decode PNG image " + path + ": " + image.message);
  }
  // 16-bit samples without gamma information are sRGB like everyone else's,
  // not linear (libpng's default), so they scale to 8 bits as PIL does.
  image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  const bool colour = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  image.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  Image out;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.channels = colour ? 3 : 1;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  // Transparent pixels are composited onto black (libpng's default with no background).
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw std::runtime_error("cannot decode PNG image " + path + ": " + message);
  }
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Finds the frame header (SOFn) among the JPEG markers; false if not in `n` bytes.
bool jpeg_header(const uint8_t* b, size_t n, ImageInfo* info) {
  size_t i = 2;
  while (i + 4 <= n) {
    if (b[i] != 0xFF) return false;
    uint8_t marker = b[i + 1];
    if (marker == 0xFF) {  // fill byte
      i++;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;
      continue;
    }
    const size_t len = (size_t(b[i + 2]) << 8) | b[i + 3];
    if (len < 2) return false;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 10 > n) return false;
      info->height = (b[i + 5] << 8) | b[i + 6];
      info->width = (b[i + 7] << 8) | b[i + 8];
      const int comps = b[i + 9];
      info->channels = comps == 1 ? 1 : 3;
      return info->width > 0 && info->height > 0 && (comps == 1 || comps == 3 || comps == 4);
    }
    if (marker == 0xD9 || marker == 0xDA) return false;  // end of image or scan before a frame
    i += 2 + len;
  }
  return false;
}

}  // namespace

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& path, int min_side) {
  if (is_jpeg(bytes.data(), bytes.size())) {
    Image out;
    char message[JMSG_LENGTH_MAX] = {0};
    if (!jpeg_decode_raw(bytes.data(), bytes.size(), min_side, &out, message)) {
      throw std::runtime_error("cannot decode JPEG image " + path + ": " + message);
    }
    return out;
  }
  if (is_png(bytes.data(), bytes.size())) return png_decode(bytes, path);
  throw std::runtime_error("cannot decode image " + path + ": not a JPEG or PNG file");
}

ImageInfo probe_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open image file " + path);
  // Headers sit at the start; EXIF blocks rarely push the frame header past 256 KiB.
  std::vector<uint8_t> head(256 * 1024);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  const size_t n = static_cast<size_t>(in.gcount());
  ImageInfo info;
  if (is_png(head.data(), n)) {
    if (n < 33 || std::memcmp(head.data() + 12, "IHDR", 4) != 0) {
      throw std::runtime_error("cannot decode PNG image " + path + ": no IHDR header (truncated or corrupted)");
    }
    info.width = static_cast<int>(be32(head.data() + 16));
    info.height = static_cast<int>(be32(head.data() + 20));
    const int colour_type = head[25];
    info.channels = (colour_type & 2) || colour_type == 3 ? 3 : 1;
    if (info.width <= 0 || info.height <= 0) {
      throw std::runtime_error("cannot decode PNG image " + path + ": bad size in its header");
    }
    if (n < 45) throw std::runtime_error("cannot decode PNG image " + path + ": truncated file");
    return info;
  }
  if (is_jpeg(head.data(), n)) {
    if (jpeg_header(head.data(), n, &info)) return info;
    if (n == head.size()) {
      // A huge metadata block: fall back to parsing the whole file.
      const auto all = read_file(path);
      if (jpeg_header(all.data(), all.size(), &info)) return info;
    }
    throw std::runtime_error("cannot decode JPEG image " + path + ": no frame header (truncated or corrupted)");
  }
  throw std::runtime_error("cannot decode image " + path + ": not a JPEG or PNG file");
}

void write_image(const std::string& path, const uint8_t* pixels, int width, int height, int channels,
                 int quality) {
  if (channels != 1 && channels != 3) throw std::invalid_argument("images to write need 1 or 3 channels");
  if (width <= 0 || height <= 0) throw std::invalid_argument("images to write need a positive size");
  auto ends_with = [&](const char* ext) {
    const size_t n = std::strlen(ext);
    if (path.size() < n) return false;
    std::string tail = path.substr(path.size() - n);
    std::transform(tail.begin(), tail.end(), tail.begin(), [](unsigned char c) { return std::tolower(c); });
    return tail == ext;
  };
  std::vector<uint8_t> encoded;
  if (ends_with(".png")) {
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(width);
    image.height = static_cast<png_uint_32>(height);
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, nullptr, &size, 0, pixels, 0, nullptr)) {
      throw std::runtime_error(std::string("cannot encode PNG: ") + image.message);
    }
    encoded.resize(size);
    if (!png_image_write_to_memory(&image, encoded.data(), &size, 0, pixels, 0, nullptr)) {
      throw std::runtime_error(std::string("cannot encode PNG: ") + image.message);
    }
    encoded.resize(size);
  } else if (ends_with(".jpg") || ends_with(".jpeg")) {
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    char message[JMSG_LENGTH_MAX] = {0};
    const bool ok = jpeg_encode_raw(pixels, width, height, channels, std::clamp(quality, 1, 100), &buffer, &size,
                                    message);
    if (ok) encoded.assign(buffer, buffer + size);
    std::free(buffer);
    if (!ok) throw std::runtime_error(std::string("cannot encode JPEG: ") + message);
  } else {
    throw std::invalid_argument("cannot tell the image format of " + path + " (use .png, .jpg or .jpeg)");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out.write(reinterpret_cast<const char*>(encoded.data()), static_cast<std::streamsize>(encoded.size()));
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

namespace {

// Filter taps of one output axis: for output pixel o, `count[o]` source
// indices from `first[o]` on, with weights summing to 1.
struct Taps {
  std::vector<int> start;   // offset of o's taps in index/weight
  std::vector<int> count;
  std::vector<int> index;   // clamped source index
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
    for (size_t k = begin; k < t.weight.size(); k++) t.weight[k] = static_cast<float>(t.weight[k] / total);
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
          acc += ty.weight[s + k] * tmp[(static_cast<size_t>(ty.index[s + k] - row_lo) * out_w + x) * c_in + cs];
        }
        const float v = std::nearbyint(acc);
        dst[c * plane + static_cast<size_t>(y) * out_w + ox] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
      }
    }
  }
}

}  // namespace lade::data

using namespace lade;
using namespace lade::data;

/// Decodes the JPEG or PNG file at `path` into a uint8 tensor [C, H, W]
/// (C = 1 for grey images, else 3), at full size.
LADE_EXTERN torch::Tensor* lade_image_read(const char* path) {
  return guard_tensor([&] {
    const Image img = decode_image(read_file(path), path, 0);
    auto hwc = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels},
                                torch::kUInt8);
    // clone, not contiguous(): with one channel the permuted view already
    // counts as contiguous and would still point into `img`, about to be freed.
    return hwc.permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
  });
}

/// Writes a uint8 tensor [C, H, W] (C 1 or 3) as a PNG or JPEG file, chosen by
/// the extension of `path`; `quality` (1..100) applies to JPEG. Atomic.
LADE_EXTERN int32_t lade_image_write(torch::Tensor* image, const char* path, int32_t quality) {
  return guard_status([&] {
    const auto& t = T(image);
    if (t.scalar_type() != torch::kUInt8 || t.dim() != 3) {
      throw std::invalid_argument("image to write must be a uint8 tensor [C, H, W]");
    }
    const auto hwc = t.to(torch::kCPU).permute({1, 2, 0}).contiguous();
    write_image(path, hwc.data_ptr<uint8_t>(), static_cast<int>(t.size(2)), static_cast<int>(t.size(1)),
                static_cast<int>(t.size(0)), quality);
  });
}

/// Reads the headers of `n` image files (NUL-separated UTF-8 paths in `paths`,
/// `nbytes` bytes in all) on up to `threads` native threads. Writes width,
/// height and channels per file into `out` (n x 3), or 0, 0, 0 for a file that
/// is missing or not a readable JPEG/PNG header. Returns the number of bad
/// files; the first one's reason becomes the last error when there are any.
LADE_EXTERN int32_t lade_image_probe(const char* paths, int64_t nbytes, int32_t n, int32_t threads, int32_t* out) {
  return guard_value<int32_t>(-1, [&]() -> int32_t {
    std::vector<std::string> list;
    list.reserve(static_cast<size_t>(n));
    const char* p = paths;
    const char* end = paths + nbytes;
    while (p < end && static_cast<int32_t>(list.size()) < n) {
      const size_t len = strnlen(p, static_cast<size_t>(end - p));
      list.emplace_back(p, len);
      p += len + 1;
    }
    if (static_cast<int32_t>(list.size()) != n) throw std::invalid_argument("probe: fewer paths than n");
    std::vector<std::string> errors(list.size());
    std::atomic<int64_t> next{0};
    auto work = [&] {
      for (int64_t i; (i = next.fetch_add(1)) < n;) {
        try {
          const ImageInfo info = probe_image(list[i]);
          out[3 * i] = info.width, out[3 * i + 1] = info.height, out[3 * i + 2] = info.channels;
        } catch (const std::exception& e) {
          out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = 0;
          errors[i] = e.what();
        }
      }
    };
    const int count = std::max(1, std::min<int>(threads, n / 64 + 1));
    std::vector<std::thread> pool;
    for (int t = 1; t < count; t++) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    int32_t bad = 0;
    for (const auto& e : errors) {
      if (e.empty()) continue;
      if (bad++ == 0) set_error(e);
    }
    return bad;
  });
}
