#!/usr/bin/env bash
# Builds lade's native library (native/) into build/native/liblade.so, with
# build/native/torch.json beside it: which libtorch it was built against.
#
# Which libtorch, first found:
#   1. LADE_TORCH_DIR (or CMAKE_PREFIX_PATH), when set;
#   2. the `torch` package of the `python3` on the PATH, when it reports CUDA
#      and ships libtorch's CMake files (a PyTorch wheel or conda package;
#      found without importing torch, which takes seconds);
#   3. the system's (Debian's libtorch-dev).
# lib/torch/libtorch.ts finds a machine's libtorch with the same rules (there
# python3's torch counts with or without CUDA) and the compiled binary runs
# this script to build for it; keep the two in step.
#
# The build is cached by a hash of the native sources and the libtorch: when
# nothing changed, it returns at once.
#
# A failed build exits non-zero and stamps nothing: the library and hash in
# build/native stay those of the last good build. The compiler's output of
# the last build is kept in build/native/build.log.
#
# Warnings are errors (-Wall -Wextra -Werror) with every libtorch: its headers
# are SYSTEM includes (native/CMakeLists.txt), so only lade's own code is held
# to them, and the library the tests load was compiled warning-free.
# LADE_WERROR=0 makes them warnings again (the single binary's build for a
# user's machine, whose compiler this code has not met, sets it).
#
# torch.json: {"version", "dir" (libtorch's root folder), "source"
# ("LADE_TORCH_DIR", "CMAKE_PREFIX_PATH", "python3" or "system"), "cuda",
# "cuda_version", "cuda_archs", "lade_sources" (the hash of native/ and this
# script, which names the binary's cache folders)}.
#
# Environment:
#   LADE_TORCH_DIR    the root folder of another libtorch (an unpacked
#                     libtorch zip, or torch/ inside a PyTorch wheel).
#   CMAKE_PREFIX_PATH is honoured too.
#   LADE_TORCH_SOURCE how the caller found LADE_TORCH_DIR (recorded in
#                     torch.json), or `system` to skip python3's torch.
#   LADE_WERROR       1 or 0: warnings are errors (the default), or not.
#   LADE_BUILD_JOBS   parallel compile jobs (default: the number of CPUs).
#   LADE_CUDA_FEATURES  0: leave out the CUDA-specific code (CUDA graphs,
#                     bf16 autocast, NCCL): a fallback for a libtorch whose
#                     CUDA headers this code does not compile against.
#
# `build-native.sh --print-torch` prints the libtorch it would use (as
# torch.json, without the CUDA architectures) and builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/native
work=build/native-cmake
triplet=$(gcc -dumpmachine 2>/dev/null || echo "$(uname -m)-linux-gnu")

# The libtorch root under a CMake prefix entry: <root>, <root>/share/cmake or
# the Torch config folder itself.
root_of_prefix() {
  local p=$1
  if [[ -f "$p/share/cmake/Torch/TorchConfig.cmake" ]]; then echo "$p"
  elif [[ -f "$p/Torch/TorchConfig.cmake" ]]; then (cd "$p/../.." && pwd -P)
  elif [[ -f "$p/TorchConfig.cmake" ]]; then (cd "$p/../../.." && pwd -P)
  else echo "$p"; fi
}

# The folder of python3's torch package, found without importing it; empty
# when there is none.
python_torch() {
  command -v python3 >/dev/null || return 0
  timeout 20 python3 -c 'import importlib.util as u
s = u.find_spec("torch")
print(s.submodule_search_locations[0] if s and s.submodule_search_locations else "")' \
    2>/dev/null || true
}

# A `key = 'value'` of torch/version.py (None gives nothing).
version_py() {
  [[ -f "$1/version.py" ]] || return 0
  sed -n "s/^$2[^=]*= *['\"]\\([^'\"]*\\)['\"].*/\\1/p" "$1/version.py" | head -1
}

source=system
dir=""
if [[ -n "${LADE_TORCH_DIR:-}" ]]; then
  source=${LADE_TORCH_SOURCE:-LADE_TORCH_DIR}
  dir=$(cd "$LADE_TORCH_DIR" && pwd -P)
elif [[ -n "${CMAKE_PREFIX_PATH:-}" ]]; then
  source=CMAKE_PREFIX_PATH
  dir=$(root_of_prefix "${CMAKE_PREFIX_PATH%%:*}")
elif [[ "${LADE_TORCH_SOURCE:-}" != system ]]; then
  t=$(python_torch)
  if [[ -n "$t" && -f "$t/share/cmake/Torch/TorchConfig.cmake" && -n "$(version_py "$t" cuda)" ]]; then
    source=python3
    dir=$(cd "$t" && pwd -P)
    export LADE_TORCH_DIR="$dir"
  fi
fi
if [[ $source == system ]]; then
  dir=/usr
  for prefix in /usr/local /usr; do
    for cfg in "lib/$triplet/cmake/Torch" lib/cmake/Torch lib64/cmake/Torch share/cmake/Torch; do
      if [[ -f "$prefix/$cfg/TorchConfig.cmake" ]]; then
        dir=$prefix
        break 2
      fi
    done
  done
fi

# The version: torch/version.py (a wheel), build-version (a libtorch zip), or
# the headers' version.h.
version=$(version_py "$dir" __version__)
[[ -z "$version" && -f "$dir/build-version" ]] && version=$(head -1 "$dir/build-version")
if [[ -z "$version" ]]; then
  h="$dir/include/torch/csrc/api/include/torch/version.h"
  if [[ -f "$h" ]]; then
    version=$(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{v = v (v == "" ? "" : ".") $3} END {print v}' "$h")
  fi
fi
version=${version:-unknown}

# CUDA: version.py's `cuda`, else the CUDA libraries beside libtorch.
cuda=false
cuda_version=$(version_py "$dir" cuda)
if [[ -n "$cuda_version" ]]; then
  cuda=true
else
  for l in "$dir/lib" "$dir/lib/$triplet"; do
    [[ -e "$l/libtorch_cuda.so" || -e "$l/libc10_cuda.so" ]] && cuda=true
  done
  if [[ $cuda == true && "$version" =~ \+cu([0-9]+)([0-9])$ ]]; then
    cuda_version="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
  fi
fi

werror=ON
[[ -n "${LADE_WERROR:-}" && "$LADE_WERROR" != 1 ]] && werror=OFF

sources=$( {
  find native -type f
  echo scripts/build-native.sh
} | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)

# torch.json's text; $1: the CUDA architectures, comma-separated.
json_string() { if [[ -n "$1" ]]; then printf '"%s"' "$1"; else printf null; fi; }
torch_json() {
  local archs_json="" a list
  IFS=, read -ra list <<<"$1"
  for a in "${list[@]}"; do archs_json+="${archs_json:+, }\"$a\""; done
  cat <<EOF
{
  "version": $(json_string "$version"),
  "dir": $(json_string "$dir"),
  "source": "$source",
  "cuda": $cuda,
  "cuda_version": $(json_string "$cuda_version"),
  "cuda_archs": [$archs_json],
  "lade_sources": "$sources"
}
EOF
}

# --print-torch: the libtorch this build would use, as torch.json (without
# the CUDA architectures), and nothing else.
if [[ "${1:-}" == --print-torch ]]; then
  torch_json ""
  exit 0
fi

# Debian can update its libtorch without changing the version in the headers.
package=""
[[ $source == system ]] && package=$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || true)

hash=$( {
  echo "$version" "$dir" "$source" "$package"
  echo "${CMAKE_PREFIX_PATH:-}"
  echo "werror=$werror"
  [[ "${LADE_CUDA_FEATURES:-1}" == 0 ]] && echo "cuda_features=off"
  echo "$sources"
} | sha256sum | cut -c1-16)

if [[ -f "$out/hash" && -f "$out/liblade.so" && -f "$out/torch.json" &&
  "$(cat "$out/hash")" == "$hash" ]]; then
  echo "native library up to date ($hash)"
  exit 0
fi

# The GPU architectures the wheel was compiled for: only torch itself knows
# them, so import it once (a few seconds), time-boxed; unknown otherwise.
archs=""
if [[ $cuda == true && -f "$dir/version.py" ]] && command -v python3 >/dev/null; then
  archs=$(cd / && timeout 120 python3 -c 'import sys
sys.path.insert(0, sys.argv[1])
import torch
f = getattr(torch._C, "_cuda_getArchFlags", None)
a = f() if f else None
a = a.split() if isinstance(a, str) else list(a or torch.cuda.get_arch_list())
print(",".join(a))' "$(dirname "$dir")" 2>/dev/null | tail -1 || true)
fi

echo "building the native library ($hash) against libtorch $version ($source: $dir)..."
# CMake caches where it found Torch: a build folder serves one libtorch.
torch_id="$version $dir"
if [[ -f "$work/torch-id" && "$(cat "$work/torch-id")" != "$torch_id" ]]; then
  rm -rf "$work"
fi
mkdir -p "$out" "$work"
echo "$torch_id" >"$work/torch-id"
cuda_features=$([[ "${LADE_CUDA_FEATURES:-1}" == 0 ]] && echo OFF || echo ON)
jobs=${LADE_BUILD_JOBS:-$(nproc)}
cmake -S native -B "$work" -DCMAKE_BUILD_TYPE=Release -DLADE_WERROR="$werror" -DLADE_SANITIZE=OFF \
  -DLADE_CUDA_FEATURES="$cuda_features" -DLADE_BUILD_JOBS="$jobs" \
  -DLADE_TORCH_CUDA_ARCHS="$archs" >"$work/configure.log" 2>&1 || {
  cat "$work/configure.log" >&2
  echo "error: cmake could not configure native/ (is libtorch installed? see README)" >&2
  exit 1
}
# Never let a library from an earlier build pass for this one.
rm -f "$work/liblade.so"
# Show the compiler's messages (warnings, errors) as they come, not the
# progress lines. With pipefail the pipeline fails when the build does.
status=0
cmake --build "$work" -j"$jobs" 2>&1 | tee "$work/build.log" |
  { grep -vE '^\[ *[0-9]+%\] (Building|Linking)' || true; } || status=$?
if [[ "$status" != 0 || ! -f "$work/liblade.so" ]]; then
  echo "error: the native build failed (see the messages above; full log: $work/build.log)" >&2
  exit 1
fi

torch_json "$archs" >"$out/torch.json.tmp"
# Replace atomically so a running process never sees a half-written library;
# the hash is stamped last, so it only ever names a library that was built.
cp "$work/liblade.so" "$out/liblade.so.tmp"
mv "$out/liblade.so.tmp" "$out/liblade.so"
mv "$out/torch.json.tmp" "$out/torch.json"
cp "$work/build.log" "$out/build.log.tmp" && mv "$out/build.log.tmp" "$out/build.log"
echo "$hash" >"$out/hash.tmp" && mv "$out/hash.tmp" "$out/hash"
echo "built $out/liblade.so"
