// Deno opens liblade.so with RTLD_LOCAL, so libtorch and the CUDA libraries
// it brings in (cuDNN, cuBLAS, NCCL, the CUDA runtime) land in a private
// symbol scope. Some of them load further pieces of themselves at run time
// (cuDNN 9 loads its engine libraries on first use) that expect their
// symbols in the global scope: a weak reference then resolves to null and the
// first convolution crashes (seen on an H200 with PyTorch 2.11's libtorch:
// a call through address 0 from cuDNN's std::call_once). PyTorch's Python
// package avoids it by loading its dependencies with RTLD_GLOBAL
// (torch/__init__.py, _load_global_deps); lade does the same here: when the
// library is loaded, every shared object already mapped (libtorch's and
// CUDA's among them) is re-opened with RTLD_NOLOAD | RTLD_GLOBAL, which moves
// it to the global scope without loading anything new.
#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

int collect_name(struct dl_phdr_info* info, size_t /*size*/, void* data) {
  auto* names = static_cast<std::vector<std::string>*>(data);
  const char* name = info->dlpi_name;
  // The program itself has an empty name; the vDSO cannot be opened by name.
  if (name && *name && std::strstr(name, "linux-vdso") == nullptr) names->emplace_back(name);
  return 0;
}

__attribute__((constructor)) void promote_loaded_libraries_to_global_scope() {
  try {
    std::vector<std::string> names;
    dl_iterate_phdr(collect_name, &names);
    for (const auto& name : names) {
      // The handle is kept (never closed): the library stays loaded anyway.
      (void)dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    }
  } catch (...) {
    // Nothing may escape a constructor; without the promotion CPU work is unaffected.
  }
}

}  // namespace
