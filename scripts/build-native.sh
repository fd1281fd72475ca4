#!/usr/bin/env bash
# Builds lade's native library (native/) into build/native/liblade.so.
#
# The build is cached by a hash of the native sources and the libtorch
# version: when nothing changed, it returns at once.
#
# A failed build exits non-zero and stamps nothing: the library and hash in
# build/native stay those of the last good build. The compiler's output of
# the last build is kept in build/native/build.log.
#
# With Debian's libtorch (the toolchain of the tests and CI) warnings are
# errors (-Werror), so the library the tests load was compiled warning-free;
# with another libtorch they stay warnings.
#
# Environment:
#   LADE_TORCH_DIR   folder of another libtorch (a CUDA 2.x build, or
#                    torch/ inside a PyTorch wheel); default: Debian's libtorch-dev.
#   CMAKE_PREFIX_PATH is honoured too.
#   LADE_WERROR      1 or 0: warnings are errors, or not (default: see above).
#   LADE_BUILD_JOBS  parallel compile jobs (default: the number of CPUs).
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

if [[ -n "${LADE_WERROR:-}" ]]; then
  werror=$([[ "$LADE_WERROR" == 1 ]] && echo ON || echo OFF)
elif [[ -z "${LADE_TORCH_DIR:-}" && -z "${CMAKE_PREFIX_PATH:-}" ]]; then
  werror=ON
else
  werror=OFF
fi

hash=$( {
  torch_version
  echo "${CMAKE_PREFIX_PATH:-}"
  echo "werror=$werror"
  find native -type f | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -c1-16)

if [[ -f "$out/hash" && -f "$out/liblade.so" && "$(cat "$out/hash")" == "$hash" ]]; then
  echo "native library up to date ($hash)"
  exit 0
fi

echo "building the native library ($hash)..."
mkdir -p "$out" "$work"
cmake -S native -B "$work" -DCMAKE_BUILD_TYPE=Release -DLADE_WERROR="$werror" -DLADE_SANITIZE=OFF \
  >"$work/configure.log" 2>&1 || {
  cat "$work/configure.log" >&2
  echo "error: cmake could not configure native/ (is libtorch installed? see README)" >&2
  exit 1
}
# Never let a library from an earlier build pass for this one.
rm -f "$work/liblade.so"
# Show the compiler's messages (warnings, errors) as they come, not the
# progress lines. With pipefail the pipeline fails when the build does.
status=0
cmake --build "$work" -j"${LADE_BUILD_JOBS:-$(nproc)}" 2>&1 | tee "$work/build.log" |
  { grep -vE '^\[ *[0-9]+%\] (Building|Linking)' || true; } || status=$?
if [[ "$status" != 0 || ! -f "$work/liblade.so" ]]; then
  echo "error: the native build failed (see the messages above; full log: $work/build.log)" >&2
  exit 1
fi
# Replace atomically so a running process never sees a half-written library;
# the hash is stamped last, so it only ever names a library that was built.
cp "$work/liblade.so" "$out/liblade.so.tmp"
mv "$out/liblade.so.tmp" "$out/liblade.so"
cp "$work/build.log" "$out/build.log.tmp" && mv "$out/build.log.tmp" "$out/build.log"
echo "$hash" >"$out/hash.tmp" && mv "$out/hash.tmp" "$out/hash"
echo "built $out/liblade.so"
