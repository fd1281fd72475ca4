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

/// Reads a whole file; throws std::runtime_error naming the path when it cannot.
std::vector<uint8_t> read_file(const std::string& path);

/// Decodes a JPEG or PNG (told apart by their magic bytes, not the file name).
/// `min_side` > 0 lets JPEG decoding scale down by a power of two as long as
/// the shorter side stays at least `min_side` (0: full size). Grey stays 1
/// channel; alpha is dropped; palettes and 16-bit samples become 8-bit RGB/grey.
/// Throws std::runtime_error naming `path` when the bytes are not a readable image.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& path, int min_side = 0);

/// Reads only the header of a JPEG or PNG file; throws like decode_image.
ImageInfo probe_image(const std::string& path);

/// Encodes `pixels` (interleaved HWC, channels 1 or 3) as PNG or JPEG, chosen by
/// the extension of `path` (.png; .jpg or .jpeg), and writes it atomically.
void write_image(const std::string& path, const uint8_t* pixels, int width, int height,
                 int channels, int quality);

}  // namespace lade::data
