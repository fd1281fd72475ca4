// glibc malloc settings for libtorch's CPU tensors, applied once when the
// library is loaded.
//
// libtorch allocates every CPU tensor with posix_memalign, and a training
// step frees and reallocates the same activations (megabytes each) hundreds
// of times. Inside the Deno process glibc's adaptive thresholds do not settle
// (measured: 1.4 million page faults in 40 ResNet-32 steps, against 0.12
// million with fixed thresholds), so each large block came fresh from mmap
// or from a heap just trimmed, and every first touch of it was a page fault:
// ResNet-32's backward pass took 132 ms instead of 102 ms at batch 128.
//
// Fixed thresholds keep blocks up to 32 MiB (glibc's maximum for
// M_MMAP_THRESHOLD) in the heap, and return free memory at the heap's top to
// the system only beyond 1 GiB, so a step's activations are reused from the
// previous step. Larger blocks are still mmapped and unmapped as before.
//
// Left alone when the user tunes malloc (GLIBC_TUNABLES with glibc.malloc.,
// or the MALLOC_*_ variables), or with LADE_MALLOC_TUNING=0.
#include <cstdlib>  // first: it defines __GLIBC__ on glibc systems
#include <cstring>
#include <initializer_list>

#if defined(__GLIBC__)
#include <malloc.h>

namespace {

bool user_tunes_malloc() {
  const char* off = std::getenv("LADE_MALLOC_TUNING");
  if (off && std::strcmp(off, "0") == 0) return true;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "glibc.malloc.")) return true;
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                           "MALLOC_MMAP_MAX_"}) {
    if (std::getenv(name)) return true;
  }
  return false;
}

const bool malloc_tuned = [] {
  if (user_tunes_malloc()) return false;
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  return mmap_ok && trim_ok;
}();

}  // namespace
#endif
