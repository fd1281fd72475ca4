#!/usr/bin/env bash
# Builds lade's native library (native/) into build/native/liblade.so.
#
# The build is cached by a hash of the native sources and the libtorch
# version: when nothing changed, it returns at once.
#
# Environment:
#   LADE_TORCH_DIR   folder of another libtorch (a CUDA 2.x build, or
#                    torch/ inside a PyTorch wheel); default: Debian's libtorch-dev.
#   CMAKE_PREFIX_PATH is honoured too.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/native
work=build/native-cmake

torch_version() {
  if [[ -n "${LADE_TORCH_DIR:-}" ]]; then
    for f in "$LADE_TORCH_DIR/build-version" "$LADE_TORCH_DIR/version.txt" \
      "$LADE_TORCH_DIR/include/torch/csrc/api/include/torch/version.h"; do
      [[ -f "$f" ]] && { echo "$LADE_TORCH_DIR:$(sha256sum "$f" | cut -c1-16)"; return; }
    done
    echo "$LADE_TORCH_DIR"
  else
    dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo unknown
  fi
}

hash=$( {
  torch_version
  echo "${CMAKE_PREFIX_PATH:-}"
  find native -type f | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -c1-16)

if [[ -f "$out/hash" && -f "$out/liblade.so" && "$(cat "$out/hash")" == "$hash" ]]; then
  echo "native library up to date ($hash)"
  exit 0
fi

echo "building the native library ($hash)..."
mkdir -p "$out" "$work"
cmake -S native -B "$work" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 || {
  cat "$work/configure.log" >&2
  echo "error: cmake could not configure native/ (is libtorch installed? see README)" >&2
  exit 1
}
cmake --build "$work" -j"$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\] (Building|Linking)' || true
[[ -f "$work/liblade.so" && "${PIPESTATUS[0]}" == 0 ]] || {
  echo "error: the native build failed" >&2
  exit 1
}
# Replace atomically so a running process never sees a half-written library.
cp "$work/liblade.so" "$out/liblade.so.tmp"
mv "$out/liblade.so.tmp" "$out/liblade.so"
echo "$hash" >"$out/hash.tmp" && mv "$out/hash.tmp" "$out/hash"
echo "built $out/liblade.so"
