// Image decoding (JPEG, PNG), header probing and encoding, shared by
// data_image.cpp (the C ABI for single images) and data_batch.cpp (batches of
// image-list samples on native threads). No libtorch here: these routines run
// on the loader's worker threads over plain buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lade::data {

/// A decoded image, interleaved (height, width, channels), channels 1 or 3.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

/// Width, height and channel count read from an image's header only.
struct ImageInfo {
  int width = 0;
  int height = 0;
  int channels = 0;
};

/// The default limit on an image's pixel count (width x height), Pillow's
/// MAX_IMAGE_PIXELS: a header claiming more is refused before anything is
/// allocated (a decompression bomb, or a corrupt size field).
constexpr int64_t kDefaultMaxPixels = 89478485;

/// The most bytes an image file may have for a pixel limit (0: no limit):
/// four bytes a pixel and 64 MiB of metadata, so a huge file that is no
/// image is not read into memory whole.
int64_t max_file_bytes(int64_t max_pixels);

/// Reads a whole file; throws std::runtime_error naming the path when it
/// cannot, or when it holds more than `max_bytes` bytes (> 0).
std::vector<uint8_t> read_file(const std::string& path, int64_t max_bytes = 0);

/// Decodes a JPEG or PNG (told apart by their magic bytes, not the file name).
/// `min_side` > 0 lets JPEG decoding scale down by a power of two as long as
/// the shorter side stays at least `min_side` (0: full size). Grey stays 1
/// channel; alpha is dropped; palettes and 16-bit samples become 8-bit RGB/grey.
/// An image of more than `max_pixels` pixels (> 0) is refused before its pixels
/// are allocated. libjpeg's corrupt-data warnings (a bad Huffman code, a scan
/// cut short by a marker, data past the end) are errors, as is a truncated file.
/// Throws std::runtime_error naming `path` when the bytes are not a readable image.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& path, int min_side,
                   int64_t max_pixels);

/// Reads only the header of a JPEG or PNG file; throws like decode_image
/// (a header claiming more than `max_pixels` pixels included).
ImageInfo probe_image(const std::string& path, int64_t max_pixels);

/// Encodes `pixels` (interleaved HWC, channels 1 or 3) as PNG or JPEG, chosen by
/// the extension of `path` (.png; .jpg or .jpeg), and writes it atomically.
void write_image(const std::string& path, const uint8_t* pixels, int width, int height,
                 int channels, int quality);

}  // namespace lade::data
