// JPEG and PNG decoding (libjpeg-turbo, libpng), encoding and header
// probing for image-list datasets. No libtorch here: these routines run on
// the data loader's worker threads over plain buffers.
//
// libjpeg reports fatal errors through a callback that must not return; it
// longjmps back to the decoding function, which then throws a C++ exception
// (never through libjpeg's C frames). Nothing with a destructor lives in a
// frame that a longjmp leaves: scratch rows come from libjpeg's own pool,
// freed by jpeg_destroy_*. libpng's simplified API reports errors in its
// control structure, so it needs no jump.
#include "image_codec.h"

// jpeglib.h needs FILE and size_t declared before it.
#include <stdio.h>

#include <jpeglib.h>

#include <jerror.h>
#include <png.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace lade::data {

int64_t max_file_bytes(int64_t max_pixels) {
  return max_pixels > 0 ? max_pixels * 4 + (int64_t{64} << 20) : 0;
}

// stat() before any open: a folder "opens" and reports a size of 2^63 - 1,
// and a FIFO blocks open() until a writer comes, which may be never.
static void check_regular_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    throw std::runtime_error("cannot open image file " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) {
    throw std::runtime_error(path + " is a folder, not an image file");
  }
  if (!S_ISREG(info.st_mode)) {
    throw std::runtime_error(
        path + " is not a regular file (a FIFO, device or socket), not an image file");
  }
}

std::vector<uint8_t> read_file(const std::string& path, int64_t max_bytes) {
  check_regular_file(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open image file " + path);
  const std::streamsize size = in.tellg();
  if (size < 0) throw std::runtime_error("cannot read image file " + path);
  if (max_bytes > 0 && size > max_bytes) {
    throw std::runtime_error("cannot read image file " + path + ": " + std::to_string(size) +
                             " bytes is more than an image within the pixel limit can take");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw std::runtime_error("cannot read image file " + path);
  }
  return bytes;
}

namespace {

bool is_jpeg(const uint8_t* b, size_t n) {
  return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}
bool is_png(const uint8_t* b, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(b, sig, 8) == 0;
}

// ---------------------------------------------------------------- JPEG

// More scans than any real progressive JPEG has (they have about ten); a file
// with thousands of tiny scans would keep the decoder busy for minutes.
constexpr int kMaxJpegScans = 1000;

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  bool truncated;
  bool corrupt;
  char message[JMSG_LENGTH_MAX];
  char warning[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// Warnings are not printed. A premature end of data marks the image truncated
// and libjpeg's corrupt-data warnings (a bad Huffman code, a scan cut short by
// a marker, extraneous bytes, ...) mark it corrupt: libjpeg would otherwise
// fill what it could not decode with grey and carry on. Warnings about
// metadata it does not understand (an Adobe transform code, a JFIF revision)
// leave the pixels intact.
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  const int code = cinfo->err->msg_code;
  if (code == JWRN_JPEG_EOF) {
    e->truncated = true;
  } else if (code != JWRN_ADOBE_XFORM && code != JWRN_JFIF_MAJOR && !e->corrupt) {
    e->corrupt = true;
    (*cinfo->err->format_message)(cinfo, e->warning);
  }
}

// Called between the scans of a multi-scan (progressive) image.
void jpeg_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* e = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(e->message, JMSG_LENGTH_MAX, "more than %d scans (a corrupt or hostile file)",
                  kMaxJpegScans);
    longjmp(e->jump, 1);
  }
}

// "W x H is P pixels, over the limit of L" into `message` when over the limit.
bool over_pixel_limit(uint64_t width, uint64_t height, int64_t max_pixels, char* message,
                      size_t size) {
  if (max_pixels <= 0 || width * height <= static_cast<uint64_t>(max_pixels)) return false;
  std::snprintf(message, size, "%llux%llu is %llu pixels, over the limit of %lld pixels",
                static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
                static_cast<unsigned long long>(width * height),
                static_cast<long long>(max_pixels));
  return true;
}

// Decodes into *out; returns false with `message` filled on failure. Only
// plain C state lives in this frame across setjmp: `out` belongs to the
// caller, and the CMYK scratch row is allocated from libjpeg's image pool.
// Sizing `out` may throw (std::bad_alloc); libjpeg's state is then freed
// before the exception leaves.
bool jpeg_decode_raw(const uint8_t* data, size_t size, int min_side, int64_t max_pixels, Image* out,
                     char* message) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  jpeg_progress_mgr progress;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  err.truncated = false;
  err.corrupt = false;
  err.message[0] = err.warning[0] = 0;
  if (setjmp(err.jump)) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = jpeg_progress;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (over_pixel_limit(cinfo.image_width, cinfo.image_height, max_pixels, message,
                       JMSG_LENGTH_MAX)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
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
  try {
    out->pixels.resize(static_cast<size_t>(w) * h * out->channels);
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  // Freed with the decompressor, so a longjmp leaks nothing.
  JSAMPROW row = cmyk
                     ? (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo),
                                                  JPOOL_IMAGE, static_cast<JDIMENSION>(w) * 4, 1)[0]
                     : nullptr;
  while (cinfo.output_scanline < cinfo.output_height && !err.corrupt && !err.truncated) {
    const size_t y = cinfo.output_scanline;
    uint8_t* dst = out->pixels.data() + y * w * out->channels;
    JSAMPROW rows[1] = {cmyk ? row : dst};
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
  // Reads up to the end-of-image marker: garbage after the last scan warns too.
  if (!err.corrupt && !err.truncated) jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  // A file cut short also warns of the marker libjpeg puts in its place:
  // say what happened first.
  if (err.truncated) {
    std::snprintf(message, JMSG_LENGTH_MAX, "premature end of JPEG data (truncated file)");
    return false;
  }
  if (err.corrupt) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.warning);
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
  err.truncated = false;
  err.corrupt = false;
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
    JSAMPROW rows[1] = {const_cast<uint8_t*>(pixels) +
                        static_cast<size_t>(cinfo.next_scanline) * width * channels};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

// ---------------------------------------------------------------- PNG

// Frees libpng's state on every way out (the simplified API needs no longjmp).
struct PngImage {
  png_image image;
  PngImage() {
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
  }
  ~PngImage() { png_image_free(&image); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

Image png_decode(const std::vector<uint8_t>& bytes, const std::string& path, int64_t max_pixels) {
  PngImage png;
  png_image& image = png.image;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    throw std::runtime_error("cannot decode PNG image " + path + ": " + image.message);
  }
  char limit[160];
  if (over_pixel_limit(image.width, image.height, max_pixels, limit, sizeof limit)) {
    throw std::runtime_error("cannot decode PNG image " + path + ": " + limit);
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
  out.pixels.resize(static_cast<size_t>(image.width) * image.height * out.channels);
  // Transparent pixels are composited onto black (libpng's default with no background).
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    throw std::runtime_error("cannot decode PNG image " + path + ": " + image.message);
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
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
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

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& path, int min_side,
                   int64_t max_pixels) {
  if (is_jpeg(bytes.data(), bytes.size())) {
    Image out;
    char message[JMSG_LENGTH_MAX] = {0};
    if (!jpeg_decode_raw(bytes.data(), bytes.size(), min_side, max_pixels, &out, message)) {
      throw std::runtime_error("cannot decode JPEG image " + path + ": " + message);
    }
    return out;
  }
  if (is_png(bytes.data(), bytes.size())) return png_decode(bytes, path, max_pixels);
  throw std::runtime_error("cannot decode image " + path + ": not a JPEG or PNG file");
}

namespace {

ImageInfo probe_header(const std::string& path);

}  // namespace

ImageInfo probe_image(const std::string& path, int64_t max_pixels) {
  const ImageInfo info = probe_header(path);
  char limit[160];
  if (over_pixel_limit(static_cast<uint64_t>(info.width), static_cast<uint64_t>(info.height),
                       max_pixels, limit, sizeof limit)) {
    throw std::runtime_error("cannot decode image " + path + ": " + limit);
  }
  return info;
}

namespace {

ImageInfo probe_header(const std::string& path) {
  check_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open image file " + path);
  // Headers sit at the start; EXIF blocks rarely push the frame header past 256 KiB.
  std::vector<uint8_t> head(256 * 1024);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  const size_t n = static_cast<size_t>(in.gcount());
  ImageInfo info;
  if (is_png(head.data(), n)) {
    if (n < 33 || std::memcmp(head.data() + 12, "IHDR", 4) != 0) {
      throw std::runtime_error("cannot decode PNG image " + path +
                               ": no IHDR header (truncated or corrupted)");
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
      const auto all = read_file(path, int64_t{256} << 20);
      if (jpeg_header(all.data(), all.size(), &info)) return info;
    }
    throw std::runtime_error("cannot decode JPEG image " + path +
                             ": no frame header (truncated or corrupted)");
  }
  throw std::runtime_error("cannot decode image " + path + ": not a JPEG or PNG file");
}

}  // namespace

void write_image(const std::string& path, const uint8_t* pixels, int width, int height,
                 int channels, int quality) {
  if (channels != 1 && channels != 3)
    throw std::invalid_argument("images to write need 1 or 3 channels");
  if (width <= 0 || height <= 0)
    throw std::invalid_argument("images to write need a positive size");
  auto ends_with = [&](const char* ext) {
    const size_t n = std::strlen(ext);
    if (path.size() < n) return false;
    std::string tail = path.substr(path.size() - n);
    std::transform(tail.begin(), tail.end(), tail.begin(),
                   [](unsigned char c) { return std::tolower(c); });
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
    const bool ok = jpeg_encode_raw(pixels, width, height, channels, std::clamp(quality, 1, 100),
                                    &buffer, &size, message);
    if (ok) encoded.assign(buffer, buffer + size);
    std::free(buffer);
    if (!ok) throw std::runtime_error(std::string("cannot encode JPEG: ") + message);
  } else {
    throw std::invalid_argument("cannot tell the image format of " + path +
                                " (use .png, .jpg or .jpeg)");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out.write(reinterpret_cast<const char*>(encoded.data()),
              static_cast<std::streamsize>(encoded.size()));
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

}  // namespace lade::data
