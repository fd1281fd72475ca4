#!/usr/bin/env bash
# Builds lade's native library with AddressSanitizer and
# UndefinedBehaviorSanitizer (CMake option LADE_SANITIZE=ON) into
# build/native-asan/liblade.so, then runs the data tests against it:
# tests/data/ (datasets, image lists, batch loaders) and
# tests/torch/native_image_test.ts (corrupt, truncated and CMYK images).
# Arguments, when given, replace those test paths (`deno task sanitize tests/`).
#
# Deno itself is not instrumented, so the sanitizer runtimes are preloaded,
# and leak detection is off (V8 and Deno keep memory to exit). Any report
# from the sanitizers fails the run.
#
# Not part of `deno task test`: on 2 CPU cores it takes about 2 min 15 s
# (2 min for the instrumented build, which make redoes only for changed
# sources, then about 10 s of tests).
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/native-asan
work=build/native-asan-cmake
deno="${DENO_EXEC_PATH:-$(command -v deno || true)}"
if [[ -z "$deno" ]]; then
  echo "error: no deno found; run through 'npx deno@2.9.6 task sanitize'" >&2
  exit 1
fi

asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
  [[ -f "$lib" ]] || {
    echo "error: gcc has no sanitizer runtime $(basename "$lib") (install gcc's libasan/libubsan)" >&2
    exit 1
  }
done

echo "building the sanitizer build of the native library..."
mkdir -p "$out" "$work"
cmake -S native -B "$work" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLADE_SANITIZE=ON -DLADE_WERROR=OFF \
  >"$work/configure.log" 2>&1 || {
  cat "$work/configure.log" >&2
  echo "error: cmake could not configure native/ (is libtorch installed? see README)" >&2
  exit 1
}
rm -f "$work/liblade.so"
status=0
cmake --build "$work" -j"${LADE_BUILD_JOBS:-$(nproc)}" 2>&1 | tee "$work/build.log" |
  { grep -vE '^\[ *[0-9]+%\] (Building|Linking)' || true; } || status=$?
if [[ "$status" != 0 || ! -f "$work/liblade.so" ]]; then
  echo "error: the sanitizer build failed (full log: $work/build.log)" >&2
  exit 1
fi
cp "$work/liblade.so" "$out/liblade.so"

echo "running the data tests under AddressSanitizer and UndefinedBehaviorSanitizer..."
export LADE_NATIVE_LIB="$PWD/$out/liblade.so"
export LD_PRELOAD="$asan $ubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_container_overflow=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if [[ $# -eq 0 ]]; then set -- tests/data/ tests/torch/native_image_test.ts; fi
exec "$deno" test -A "$@"
