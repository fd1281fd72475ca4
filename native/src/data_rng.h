// The counter-based generator of batch augmentation: each sample's draws are
// keyed by (seed, epoch, position in the epoch), so an epoch replays exactly
// on resume whatever the thread timing, and the CPU loader (data_batch.cpp)
// and the device batches (data_device.cpp) draw the same crops and flips.
#pragma once
#include <cstdint>

namespace lade::data {

inline uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// A small generator for one sample's augmentation draws.
struct Rng {
  uint64_t state;
  Rng(uint64_t seed, int64_t epoch, int64_t position)
      : state(splitmix(splitmix(splitmix(seed) ^ static_cast<uint64_t>(epoch)) ^
                       static_cast<uint64_t>(position))) {}
  uint64_t next() { return state = splitmix(state); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  int64_t below(int64_t n) {
    return n <= 1 ? 0 : static_cast<int64_t>(next() % static_cast<uint64_t>(n));
  }
};

}  // namespace lade::data
