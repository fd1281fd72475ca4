// Small images resident on the compute device, batched there (see
// data_device.cpp). Used by the batch loaders of data_batch.cpp.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace lade::data {

/// uint8 images [N, C, S, S] and labels uploaded once to a device.
class DeviceImages {
 public:
  /// `images`: uint8 [N, C, S, S] on any device; `labels`: N values;
  /// `scale`/`shift`: C values with x * scale - shift == (x / 255 - mean) / std.
  DeviceImages(const torch::Tensor& images, const int32_t* labels, int64_t n, int pad,
               const float* scale, const float* shift, torch::Device device, uint64_t seed);

  /// A batch of samples `indices`: float32 images [n, C, S, S] (channels-last
  /// memory) and int64 labels [n], cropped and flipped (when `train`) with the
  /// CPU loader's draws for (seed, epoch, position + i).
  std::pair<torch::Tensor, torch::Tensor> batch(const int32_t* indices, int32_t n, int32_t epoch,
                                                int64_t position, bool train, bool flip) const;

 private:
  torch::Tensor padded_;   // uint8 [N, S + 2p, S + 2p, C] on the device
  torch::Tensor labels_;   // int64 [N] on the device
  torch::Tensor scale_;    // float32 [C]
  torch::Tensor shift_;    // float32 [C]
  torch::Tensor ar_;       // int64 [S]: 0..S-1
  torch::Tensor channel_;  // int64 [C]: 0..C-1
  int64_t count_, channels_, size_, pad_;
  uint64_t seed_;
  torch::Device device_;
};

}  // namespace lade::data
