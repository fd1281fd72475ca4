#!/usr/bin/env bash
# One-command set-up on a Debian machine: installs what is missing (apt
# packages, npm packages through Deno), then builds the native library
# (cached). Safe to run again: a second run does nothing but check.
# clang-format is for the tests (native/'s formatting is checked).
#
#   bash scripts/setup.sh          # what train/evaluate need
#   bash scripts/setup.sh --test   # also what the tests compare against: PyTorch and torchvision
#   bash scripts/setup.sh --bench  # also python3-torch and the other allocators, for benchmarks
#
# libtcmalloc-minimal4 is lade's default allocator (lib/torch/allocator.ts
# preloads it); the benchmarks also measure jemalloc and mimalloc.
# libdnnl-dev: oneDNN's headers, for ResNet-32's inference on oneDNN directly
# (native/src/infer_dnnl.cpp; the library is the one libtorch already links).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libtorch-dev cmake g++ pkg-config dataset-fashion-mnist libopenblas0-openmp
  libjpeg62-turbo-dev libpng-dev libgloo-dev libdnnl-dev clang-format strace libtcmalloc-minimal4)
# The tests' independent references (PyTorch's and torchvision's own
# results for lade's networks, weights files and folder datasets): Debian's
# packages share libtorch with lade's build, so they add about 50 MB.
[[ "${1:-}" == "--test" ]] && packages+=(python3-torch python3-torchvision)
[[ "${1:-}" == "--bench" ]] && packages+=(python3-torch python3-torchvision libjemalloc2 libmimalloc2.0)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# npm packages named in deno.json (pinned by deno.lock).
deno="${DENO_EXEC_PATH:-$(command -v deno || true)}"
if [[ -z "$deno" ]]; then
  echo "error: no deno found; run through 'npx deno@2.9.6 task ...'" >&2
  exit 1
fi
"$deno" install --quiet

bash scripts/build-native.sh
