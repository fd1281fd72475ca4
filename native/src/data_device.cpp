// Batches of small images that live on the compute device.
//
// Fashion-MNIST or CIFAR fit in GPU memory many times over, so the uint8
// images are uploaded once (zero-padded for the random crop, channels last)
// and each batch is gathered, cropped, flipped and normalised there by a few
// tensor ops: one `take` of precomputed element indices, then one scale and
// shift. The host only draws each sample's crop offsets and flip, with the
// same generator and in the same order as the CPU loader (data_rng.h), and
// sends them as one small [B, 4] array; the batch equals the CPU loader's,
// and an epoch's randomness still depends only on (seed, epoch, position).
#include "data_device.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "data_rng.h"

namespace lade::data {

DeviceImages::DeviceImages(const torch::Tensor& images, const int32_t* labels, int64_t n, int pad,
                           const float* scale, const float* shift, torch::Device device,
                           uint64_t seed)
    : count_(n),
      channels_(images.size(1)),
      size_(images.size(2)),
      pad_(pad),
      seed_(seed),
      device_(device) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> lab(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) lab[static_cast<size_t>(i)] = labels[i];
  labels_ = torch::tensor(lab, torch::kInt64).to(device_);
  // Pad on the host (uint8, cheap), then one upload.
  padded_ = torch::constant_pad_nd(images.to(torch::kCPU), {pad, pad, pad, pad}, 0)
                .permute({0, 2, 3, 1})
                .contiguous()
                .to(device_);
  std::vector<float> sc(scale, scale + channels_), sh(shift, shift + channels_);
  scale_ = torch::tensor(sc, torch::kFloat32).to(device_);
  shift_ = torch::tensor(sh, torch::kFloat32).to(device_);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  ar_ = torch::arange(size_, i64);
  channel_ = torch::arange(channels_, i64);
  // Batches are built on whatever stream is current when they are taken,
  // which need not wait for this one: finish the uploads now.
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
}

std::pair<torch::Tensor, torch::Tensor> DeviceImages::batch(const int32_t* indices, int32_t n,
                                                            int32_t epoch, int64_t position,
                                                            bool train, bool flip) const {
  torch::NoGradGuard no_grad;
  if (n <= 0) throw std::invalid_argument("a batch needs at least one sample");
  // (index, dx, dy, mirror) per sample, drawn exactly as the CPU loader draws them.
  auto params = torch::empty({n, 4}, torch::kInt64);
  auto* p = params.data_ptr<int64_t>();
  for (int32_t i = 0; i < n; i++) {
    const int32_t index = indices[i];
    if (index < 0 || index >= count_) {
      throw std::out_of_range("sample index " + std::to_string(index) + " outside 0.." +
                              std::to_string(count_ - 1));
    }
    int64_t dx = pad_, dy = pad_, mirror = 0;
    if (train) {
      Rng rng(seed_, epoch, position + i);
      dx = rng.below(2 * pad_ + 1);
      dy = rng.below(2 * pad_ + 1);
      mirror = (flip && (rng.next() & 1)) ? 1 : 0;
    }
    p[4 * i + 0] = index;
    p[4 * i + 1] = dx;
    p[4 * i + 2] = dy;
    p[4 * i + 3] = mirror;
  }
  // From pageable memory the copy is staged at once, so `params` may go.
  const auto dev = device_.is_cpu() ? params : params.to(device_, /*non_blocking=*/true);
  const auto idx = dev.select(1, 0);
  const int64_t S = size_, C = channels_, W = size_ + 2 * pad_;
  // Row y of sample i comes from padded row dy + y; column x from dx + x, or
  // dx + S - 1 - x when mirrored (the CPU loader's crop of the padded image).
  const auto rows = dev.select(1, 2).unsqueeze(1) + ar_.unsqueeze(0);  // [B, S]
  const auto cols = torch::where(dev.select(1, 3).unsqueeze(1).eq(1), ((S - 1) - ar_).unsqueeze(0),
                                 ar_.unsqueeze(0)) +
                    dev.select(1, 1).unsqueeze(1);  // [B, S]
  const auto pixel =
      (idx.mul(W).view({-1, 1, 1}) + rows.unsqueeze(2)).mul(W) + cols.unsqueeze(1);  // [B, S, S]
  const auto element = pixel.mul(C).unsqueeze(3) + channel_;                         // [B, S, S, C]
  auto x = padded_.view({-1}).take(element).to(torch::kFloat32).mul_(scale_).sub_(shift_);
  return {x.permute({0, 3, 1, 2}), labels_.index_select(0, idx)};
}

}  // namespace lade::data
