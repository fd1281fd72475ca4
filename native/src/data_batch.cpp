// Batch preparation on native threads: gather, augment and normalise.
//
// A loader owns its samples (a uint8 tensor [N, C, H, W] of small images, or
// a list of image files decoded on demand), their labels and a pool of worker
// threads. The TypeScript side submits batches (sample indices plus the
// epoch and position that seed their augmentation) ahead of use; workers
// fill each batch sample by sample into a uint8 buffer (random crop with
// padding and flip for small images; random-resized crop and flip, or resize
// and centre crop, for image files), then the worker that finishes a batch
// normalises it to float32 on the target device. Preparing batch k+1 thus
// overlaps with the compute on batch k.
//
// Augmentation draws come from a counter-based generator keyed by
// (seed, epoch, position in the epoch), so an epoch replays exactly on
// resume, whatever the thread timing. Image-list training batches can also
// be colour-jittered (color_jitter.h), from draws keyed the same way.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "color_jitter.h"
#include "common.h"
#include "data_device.h"
#include "data_rng.h"
#include "image_codec.h"
#include "image_resample.h"

namespace lade::data {

// Job and Loader have names of their own (not an anonymous namespace): the
// handle type lade_data_loader derives from Loader, and in a unity build a
// base from an anonymous namespace is an error (-Wsubobject-linkage).
struct Job {
  int64_t seq = 0;
  int32_t epoch = 0;
  int64_t position = 0;
  std::vector<int32_t> indices;
  torch::Tensor staged;  // uint8 [B, C, S, S] (pinned when the target is CUDA)
  int64_t claimed = 0;   // samples handed to workers
  int64_t finished = 0;  // samples done
  bool done = false;
  torch::Tensor images, labels;
  std::string error;
};

class Loader {
 public:
  // Samples: a tensor of small images, or files decoded on demand.
  torch::Tensor images;  // uint8 [N, C, H, W], CPU, contiguous
  std::vector<std::string> paths;
  std::vector<int32_t> labels;
  int64_t count = 0;
  int channels = 0;
  int size = 0;  // side of the images a batch yields
  bool from_list = false;
  bool train = false;
  bool flip = false;
  int pad = 0;
  /// Colour jitter strengths (brightness, contrast, saturation) of image-list
  /// training batches; all 0: none.
  float jitter[3] = {0, 0, 0};
  /// Image-list training batches: RandomResizedCrop's area scale range.
  double crop_scale[2] = {0.08, 1.0};
  float scale[3] = {1, 1, 1};  // x -> x * scale - shift == (x / 255 - mean) / std
  float shift[3] = {0, 0, 0};
  torch::Device device{torch::kCPU};
  torch::Tensor scale_t, shift_t;  // [1, C, 1, 1] on the device
  uint64_t seed = 0;
  int64_t max_pixels = kDefaultMaxPixels;  // images from files: the pixel limit
  /// Set for a resident loader: the images live on the device and batches
  /// are built there in take(), with no worker threads.
  std::unique_ptr<DeviceImages> resident;

  void start(int workers) {
    if (workers < 1 || workers > kMaxWorkers) {
      throw std::invalid_argument("a loader takes 1 to " + std::to_string(kMaxWorkers) +
                                  " worker threads, not " + std::to_string(workers));
    }
    for (int i = 0; i < workers; i++) pool_.emplace_back([this] { work(); });
  }

  /// The most worker threads a loader starts.
  static constexpr int kMaxWorkers = 1024;

  ~Loader() {
    cancel();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : pool_) t.join();
  }

  void submit(int64_t seq, const int32_t* idx, int32_t n, int32_t epoch, int64_t position) {
    if (n <= 0) throw std::invalid_argument("a batch needs at least one sample");
    auto job = std::make_shared<Job>();
    job->seq = seq;
    job->epoch = epoch;
    job->position = position;
    job->indices.assign(idx, idx + n);
    for (int32_t i : job->indices) {
      if (i < 0 || i >= count) {
        throw std::out_of_range("sample index " + std::to_string(i) + " outside 0.." +
                                std::to_string(count - 1));
      }
    }
    if (resident) {
      // Nothing to prepare ahead: take() builds the batch on the device.
      job->done = true;
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.count(seq))
        throw std::invalid_argument("batch " + std::to_string(seq) + " already submitted");
      jobs_[seq] = job;
      return;
    }
    auto opts = torch::TensorOptions().dtype(torch::kUInt8);
    if (device.is_cuda()) opts = opts.pinned_memory(true);
    job->staged = torch::empty({n, channels, size, size}, opts);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.count(seq))
        throw std::invalid_argument("batch " + std::to_string(seq) + " already submitted");
      jobs_[seq] = job;
      active_.push_back(job);
    }
    work_cv_.notify_all();
  }

  void wait(int64_t seq) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = jobs_.find(seq);
    if (it == jobs_.end())
      throw std::invalid_argument("batch " + std::to_string(seq) + " was not submitted");
    auto job = it->second;
    done_cv_.wait(lock, [&] { return job->done; });
  }

  std::pair<torch::Tensor, torch::Tensor> take(int64_t seq) {
    wait(seq);
    std::shared_ptr<Job> job;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = jobs_.find(seq);
      if (it == jobs_.end())
        throw std::invalid_argument("batch " + std::to_string(seq) + " was not submitted");
      job = it->second;
      jobs_.erase(it);
    }
    if (!job->error.empty()) throw std::runtime_error(job->error);
    if (resident) {
      return resident->batch(job->indices.data(), static_cast<int32_t>(job->indices.size()),
                             job->epoch, job->position, train, flip);
    }
    if (device.is_cuda()) {
      torch::NoGradGuard no_grad;
      auto on_device = job->staged.to(device, /*non_blocking=*/true);
      return {on_device.to(torch::kFloat32).mul_(scale_t).sub_(shift_t),
              job->labels.to(device, /*non_blocking=*/true)};
    }
    return {job->images, job->labels};
  }

  /// Drops queued batches and waits for the workers to go idle.
  void cancel() {
    std::unique_lock<std::mutex> lock(mu_);
    for (auto& job : active_) job->claimed = static_cast<int64_t>(job->indices.size());
    active_.clear();
    done_cv_.wait(lock, [&] { return busy_ == 0; });
    // Wake anyone still waiting on a dropped batch.
    for (auto& [seq, job] : jobs_) {
      if (!job->done)
        job->done = true, job->error = "batch " + std::to_string(seq) + " was cancelled";
    }
    jobs_.clear();
    done_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<Job>> active_;  // jobs with unclaimed samples, in submission order
  std::map<int64_t, std::shared_ptr<Job>> jobs_;
  int busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> pool_;

  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || !active_.empty(); });
      if (stopping_) return;
      auto job = active_.front();
      const int64_t total = static_cast<int64_t>(job->indices.size());
      // Small images are cheap: hand them out in chunks; files one at a time.
      const int64_t chunk = from_list ? 1 : 64;
      const int64_t begin = job->claimed;
      const int64_t end = std::min(total, begin + chunk);
      job->claimed = end;
      if (end == total) active_.pop_front();
      busy_++;
      lock.unlock();
      std::string error;
      for (int64_t i = begin; i < end; i++) {
        try {
          fill(*job, i);
        } catch (const std::exception& e) {
          if (error.empty()) error = e.what();
        }
      }
      lock.lock();
      if (!error.empty() && job->error.empty()) job->error = error;
      job->finished += end - begin;
      const bool last = job->finished == total;
      if (last) {
        lock.unlock();
        finalize(*job);
        lock.lock();
        job->done = true;
      }
      busy_--;
      done_cv_.notify_all();
    }
  }

  /// Writes sample i of the job into its staging buffer.
  void fill(Job& job, int64_t i) {
    const int32_t index = job.indices[i];
    const size_t plane = static_cast<size_t>(size) * size;
    uint8_t* dst = job.staged.data_ptr<uint8_t>() + static_cast<size_t>(i) * channels * plane;
    Rng rng(seed, job.epoch, job.position + i);
    if (!from_list) {
      // Random crop of the zero-padded image (offsets 0..2*pad), then flip.
      int dx = pad, dy = pad;
      bool mirror = false;
      if (train) {
        dx = static_cast<int>(rng.below(2 * pad + 1));
        dy = static_cast<int>(rng.below(2 * pad + 1));
        mirror = flip && (rng.next() & 1);
      }
      const uint8_t* src =
          images.data_ptr<uint8_t>() + static_cast<size_t>(index) * channels * plane;
      for (int c = 0; c < channels; c++) {
        for (int y = 0; y < size; y++) {
          const int sy = y + dy - pad;
          uint8_t* out = dst + c * plane + static_cast<size_t>(y) * size;
          if (sy < 0 || sy >= size) {
            std::memset(out, 0, static_cast<size_t>(size));
            continue;
          }
          const uint8_t* line = src + c * plane + static_cast<size_t>(sy) * size;
          for (int x = 0; x < size; x++) {
            const int sx = (mirror ? size - 1 - x : x) + dx - pad;
            out[x] = sx < 0 || sx >= size ? 0 : line[sx];
          }
        }
      }
      return;
    }
    const std::string& path = paths[static_cast<size_t>(index)];
    // Evaluation: torchvision's Resize(size * 256 / 224) + CenterCrop(size),
    // on the image decoded at full size as PIL decodes it; training decodes
    // with DCT scaling down to at least `size` (cheaper; it crops at random).
    const int resize_to = static_cast<int>(std::lround(size * 256.0 / 224.0));
    const Image img = decode_image(read_file(path, max_file_bytes(max_pixels)), path,
                                   train ? size : 0, max_pixels);
    const double W = img.width, H = img.height;
    double x0, y0, w, h;
    bool mirror = false;
    if (train) {
      // torchvision's RandomResizedCrop: scale (0.08, 1) unless set, ratio
      // (3/4, 4/3), ten tries.
      bool found = false;
      const double lo = crop_scale[0], hi = crop_scale[1];
      for (int attempt = 0; attempt < 10 && !found; attempt++) {
        const double area = W * H * (lo + (hi - lo) * rng.uniform());
        const double ratio = std::exp(std::log(3.0 / 4.0) +
                                      (std::log(4.0 / 3.0) - std::log(3.0 / 4.0)) * rng.uniform());
        const double cw = std::round(std::sqrt(area * ratio));
        const double ch = std::round(std::sqrt(area / ratio));
        if (cw > 0 && ch > 0 && cw <= W && ch <= H) {
          y0 = static_cast<double>(rng.below(static_cast<int64_t>(H - ch) + 1));
          x0 = static_cast<double>(rng.below(static_cast<int64_t>(W - cw) + 1));
          w = cw, h = ch, found = true;
        }
      }
      if (!found) {  // centre crop with the ratio clamped
        const double in_ratio = W / H;
        if (in_ratio < 3.0 / 4.0)
          w = W, h = std::round(W / (3.0 / 4.0));
        else if (in_ratio > 4.0 / 3.0)
          h = H, w = std::round(H * 4.0 / 3.0);
        else
          w = W, h = H;
        w = std::min(w, W), h = std::min(h, H);
        x0 = std::floor((W - w) / 2), y0 = std::floor((H - h) / 2);
      }
      mirror = flip && (rng.next() & 1);
    } else {
      centre_crop(img, size, resize_to, channels, dst);
      return;
    }
    resample_box(img, x0, y0, w, h, size, size, channels, mirror, dst);
    if (train && (jitter[0] > 0 || jitter[1] > 0 || jitter[2] > 0)) {
      apply_color_jitter(dst, channels, size, size,
                         draw_color_jitter(seed, job.epoch, job.position + i, jitter));
    }
  }

  /// Normalises the staged uint8 batch to float32 on the device, with labels.
  void finalize(Job& job) {
    try {
      torch::NoGradGuard no_grad;
      const int64_t n = static_cast<int64_t>(job.indices.size());
      auto labels_cpu = torch::empty({n}, torch::kInt64);
      auto* lp = labels_cpu.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; i++) lp[i] = labels[static_cast<size_t>(job.indices[i])];
      if (!job.error.empty()) return;
      if (device.is_cpu()) {
        // One pass through a lookup table per channel.
        auto out = torch::empty({n, channels, size, size}, torch::kFloat32);
        const size_t plane = static_cast<size_t>(size) * size;
        const uint8_t* src = job.staged.data_ptr<uint8_t>();
        float* dst = out.data_ptr<float>();
        float lut[3][256];
        for (int c = 0; c < channels; c++) {
          for (int v = 0; v < 256; v++) lut[c][v] = v * scale[c] - shift[c];
        }
        for (int64_t i = 0; i < n; i++) {
          for (int c = 0; c < channels; c++) {
            const size_t off = (static_cast<size_t>(i) * channels + c) * plane;
            for (size_t k = 0; k < plane; k++) dst[off + k] = lut[c][src[off + k]];
          }
        }
        job.images = out;
        job.labels = labels_cpu;
        job.staged = torch::Tensor();
      } else {
        // The upload waits for take(), on the consumer's thread and stream:
        // memory allocated on a worker's stream and used on another would
        // need cross-stream bookkeeping, and pinned staging makes the copy
        // asynchronous anyway.
        job.labels = labels_cpu;
      }
    } catch (const std::exception& e) {
      job.error = e.what();
    }
  }
};

namespace {

void configure(Loader& l, const int32_t* labels, int64_t n, int32_t train, int32_t flip,
               const float* mean, const float* stdv, int32_t device_type, int32_t device_index,
               uint64_t seed) {
  l.count = n;
  l.labels.assign(labels, labels + n);
  l.train = train != 0;
  l.flip = flip != 0;
  l.seed = seed;
  l.device = to_device(device_type, device_index);
  for (int c = 0; c < l.channels; c++) {
    if (!(stdv[c] > 0)) throw std::invalid_argument("normalisation std must be positive");
    l.scale[c] = 1.0f / (255.0f * stdv[c]);
    l.shift[c] = mean[c] / stdv[c];
  }
  if (l.device.is_cuda()) {
    auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    l.scale_t = torch::from_blob(l.scale, {1, l.channels, 1, 1}, opts).to(l.device);
    l.shift_t = torch::from_blob(l.shift, {1, l.channels, 1, 1}, opts).to(l.device);
  }
}

}  // namespace
}  // namespace lade::data

/// What a loader handle (lade.h's opaque lade_data_loader) points at.
struct lade_data_loader final : lade::data::Loader {};

using namespace lade;
using namespace lade::data;

namespace {

/// Checks the small-image tensor of a loader: uint8 [n, 1 or 3, S, S], pad <= S.
void check_small_images(const torch::Tensor& t, int64_t n, int32_t pad) {
  if (t.scalar_type() != torch::kUInt8 || t.dim() != 4 || t.size(2) != t.size(3) ||
      (t.size(1) != 1 && t.size(1) != 3)) {
    throw std::invalid_argument("loader images must be a uint8 tensor [N, 1 or 3, S, S]");
  }
  if (t.size(0) != n) throw std::invalid_argument("loader images and labels differ in count");
  if (pad < 0 || pad > t.size(2)) throw std::invalid_argument("crop padding out of range");
}

Loader* as_loader(lade_data_loader* p) {
  if (!p) throw std::invalid_argument("null data loader handle");
  return p;
}

}  // namespace

LADE_EXTERN lade_data_loader* lade_data_loader_from_tensor(
    lade_tensor* images, const int32_t* labels, int64_t n, int32_t train, int32_t pad, int32_t flip,
    const float* mean, const float* stdv, int32_t device_type, int32_t device_index, uint64_t seed,
    int32_t workers) {
  return guard_value<lade_data_loader*>(nullptr, [&] {
    const auto& t = T(images);
    check_small_images(t, n, pad);
    auto l = std::make_unique<lade_data_loader>();
    l->images = t.to(torch::kCPU).contiguous();
    l->channels = static_cast<int>(t.size(1));
    l->size = static_cast<int>(t.size(2));
    l->pad = pad;
    configure(*l, labels, n, train, flip, mean, stdv, device_type, device_index, seed);
    l->start(workers);
    return l.release();
  });
}

LADE_EXTERN lade_data_loader* lade_data_loader_resident(lade_tensor* images, const int32_t* labels,
                                                        int64_t n, int32_t train, int32_t pad,
                                                        int32_t flip, const float* mean,
                                                        const float* stdv, int32_t device_type,
                                                        int32_t device_index, uint64_t seed) {
  return guard_value<lade_data_loader*>(nullptr, [&] {
    const auto& t = T(images);
    check_small_images(t, n, pad);
    for (int64_t i = 0; i < n; i++) {
      if (labels[i] < 0) throw std::invalid_argument("negative label");
    }
    auto l = std::make_unique<lade_data_loader>();
    l->channels = static_cast<int>(t.size(1));
    l->size = static_cast<int>(t.size(2));
    l->pad = pad;
    configure(*l, labels, n, train, flip, mean, stdv, device_type, device_index, seed);
    l->resident =
        std::make_unique<DeviceImages>(t, labels, n, pad, l->scale, l->shift, l->device, seed);
    return l.release();
  });
}

LADE_EXTERN lade_data_loader* lade_data_loader_from_list(
    const char* paths, int64_t nbytes, const int32_t* labels, int64_t n, int32_t image_size,
    int32_t train, int32_t flip, const float* mean, const float* stdv, int32_t device_type,
    int32_t device_index, uint64_t seed, int32_t workers, int64_t max_pixels) {
  return guard_value<lade_data_loader*>(nullptr, [&] {
    if (image_size < 1) throw std::invalid_argument("image size must be positive");
    auto l = std::make_unique<lade_data_loader>();
    const char* p = paths;
    const char* end = paths + nbytes;
    while (p < end && static_cast<int64_t>(l->paths.size()) < n) {
      const size_t len = strnlen(p, static_cast<size_t>(end - p));
      l->paths.emplace_back(p, len);
      p += len + 1;
    }
    if (static_cast<int64_t>(l->paths.size()) != n)
      throw std::invalid_argument("fewer paths than labels");
    l->from_list = true;
    l->max_pixels = max_pixels;
    l->channels = 3;
    l->size = image_size;
    configure(*l, labels, n, train, flip, mean, stdv, device_type, device_index, seed);
    l->start(workers);
    return l.release();
  });
}

LADE_EXTERN int32_t lade_data_loader_set_color_jitter(lade_data_loader* loader, float brightness,
                                                      float contrast, float saturation) {
  return guard_status([&] {
    Loader* l = as_loader(loader);
    if (!l->from_list) throw std::invalid_argument("colour jitter needs an image-list loader");
    const float s[3] = {brightness, contrast, saturation};
    for (float x : s) {
      if (!(x >= 0 && std::isfinite(x)))
        throw std::invalid_argument("colour jitter strengths must be finite and >= 0");
    }
    l->cancel();  // no batch is prepared half with the old setting
    std::copy(s, s + 3, l->jitter);
  });
}

LADE_EXTERN int32_t lade_data_loader_set_crop_scale(lade_data_loader* loader, double low,
                                                    double high) {
  return guard_status([&] {
    Loader* l = as_loader(loader);
    if (!l->from_list) throw std::invalid_argument("a crop scale needs an image-list loader");
    if (!(low > 0 && low <= high && high <= 1)) {
      throw std::invalid_argument("the crop scale must satisfy 0 < low <= high <= 1");
    }
    l->cancel();  // no batch is prepared half with the old setting
    l->crop_scale[0] = low;
    l->crop_scale[1] = high;
  });
}

LADE_EXTERN int32_t lade_data_loader_submit(lade_data_loader* loader, int64_t seq,
                                            const int32_t* indices, int32_t n, int32_t epoch,
                                            int64_t position) {
  return guard_status([&] { as_loader(loader)->submit(seq, indices, n, epoch, position); });
}

LADE_EXTERN int32_t lade_data_loader_wait(lade_data_loader* loader, int64_t seq) {
  return guard_status([&] { as_loader(loader)->wait(seq); });
}

LADE_EXTERN int32_t lade_data_loader_take(lade_data_loader* loader, int64_t seq,
                                          lade_tensor** out) {
  return guard_status([&] {
    auto [images, labels] = as_loader(loader)->take(seq);
    out[0] = wrap(images);
    out[1] = wrap(labels);
  });
}

LADE_EXTERN int32_t lade_data_loader_cancel(lade_data_loader* loader) {
  return guard_status([&] { as_loader(loader)->cancel(); });
}

LADE_EXTERN void lade_data_loader_free(lade_data_loader* loader) {
  try {
    delete loader;
  } catch (...) {
    record_current_exception();
  }
}
