#!/usr/bin/env bash
# The one-call GPU check. Run on the GPU machine, in the repository root, with
# .device/ filled by scripts/device-pack.sh:
#
#   bash scripts/device-check.sh            # on the GPU machine (writes to $OUT)
#   bash scripts/device-check.sh --cpu      # the same sequence here, CUDA parts skipped
#
# Steps, each time-boxed so that a failure never costs the rest:
#   1. the single binary runs `info --json`: it unpacks, finds the machine's
#      libtorch (there: the PyTorch wheel's CUDA libtorch) and, since the
#      library it carries was built for Debian's, builds one for it once;
#   2. that library serves the tree: `info --json`, the CUDA tests
#      (tests/cuda/), the GPU benchmark against PyTorch in the same run;
#   3. the binary trains the default recipe on the GPU and prints the grid,
#      timed end to end, then evaluates the run in bf16 and fp32;
#   4. data-parallel training through NCCL at world size 1;
# and writes summary.json and check.log to the output folder.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=gpu
[[ "${1:-}" == "--cpu" ]] && mode=cpu
out="${OUT:-$root/build/device-check}"
mkdir -p "$out"
budget="${LADE_CHECK_BUDGET:-330}" # seconds for the whole check
work=$(mktemp -d /tmp/lade-check.XXXXXX)
log="$out/check.log"
: >"$log"
start=$(date +%s)
declare -A status seconds

say() { echo "== [$(($(date +%s) - start))s] $*" | tee -a "$log"; }
left() { echo $((budget - ($(date +%s) - start))); }
# step NAME LIMIT CMD...: runs CMD with its output in the log, bounded by
# LIMIT seconds and by what is left of the budget; records status and time.
step() {
  local name=$1 limit=$2
  shift 2
  local avail
  avail=$(left)
  ((avail < limit)) && limit=$avail
  if ((limit < 5)); then
    status[$name]=skipped
    say "$name: skipped (out of time)"
    return 1
  fi
  say "$name (at most ${limit}s)"
  local t0=$(date +%s)
  timeout --kill-after=5 "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  seconds[$name]=$(($(date +%s) - t0))
  if ((rc == 0)); then status[$name]=ok; else status[$name]="failed ($rc)"; fi
  say "$name: ${status[$name]} in ${seconds[$name]}s"
  return $rc
}

# present NAME PATH: true when PATH is in the tree; otherwise records NAME as
# missing (a step whose code has not been written yet).
present() {
  [[ -e "$2" ]] && return 0
  status[$1]="missing ($2 is not in the tree)"
  say "$1: ${status[$1]}"
  return 1
}

[[ -f .device/lade && -f .device/npm.tar.xz ]] || {
  echo "error: .device/ is empty: run scripts/device-pack.sh first" >&2
  exit 1
}

if [[ $mode == gpu ]]; then
  device=cuda:0
  nvidia-smi -L >>"$log" 2>&1
else
  device=cpu
fi
export XDG_CACHE_HOME="$work/cache" DENO_DIR="$work/deno" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
lade="$root/.device/lade"
chmod +x "$lade"

# 1. The binary on this machine: unpack, find libtorch, build for it if needed.
if ! step binary_info 240 sh -c "'$lade' info --json >'$out/binary_info.json'"; then
  # A failed build of the native library left its output beside the cache.
  for f in "$XDG_CACHE_HOME"/lade/native-*.log; do
    [[ -f "$f" ]] && { echo "--- $f"; tail -n 60 "$f"; } >>"$log"
  done
fi
native=$(sed -n 's/.*"native_library": *"\([^"]*\)".*/\1/p' "$out/binary_info.json" | head -1)
deno_bin=$(ls "$XDG_CACHE_HOME"/lade/app-*/deno 2>/dev/null | head -1)
if [[ -z "$native" || ! -f "$native" ]]; then
  # The fallback: the tree's library without the CUDA-specific code (no
  # graphs, no bf16, no NCCL), so that the rest still runs on the GPU.
  say "the binary's build failed; building the tree's without the CUDA-specific code"
  step tree_build 240 env LADE_CUDA_FEATURES=0 bash scripts/build-native.sh
  native="$root/build/native/liblade.so"
fi
export LADE_NATIVE_LIB="$native"
say "native library: $native; deno: $deno_bin"

mkdir -p "$DENO_DIR"
tar -xJf .device/npm.tar.xz -C "$DENO_DIR"
run_deno=("$deno_bin" run -A --cached-only)

# 2. The tree on this library.
step info 30 "${run_deno[@]}" main.ts info --json
"${run_deno[@]}" main.ts info --json >"$out/info.json" 2>>"$log"
present cuda_tests tests/cuda && step cuda_tests 120 "$deno_bin" test -A --cached-only --no-check tests/cuda/
if [[ $mode == gpu ]] && present bench bench/cuda_train_bench.ts; then
  step bench 120 "${run_deno[@]}" bench/cuda_train_bench.ts --json --out "$out/bench.json"
fi

# 3. The default recipe through the binary, end to end with the grid.
epochs=()
[[ $mode == cpu ]] && epochs=(--epochs 1)
# The data: Debian's Fashion-MNIST where installed, else the packed copy.
data_config=()
if [[ -f .device/fashion-mnist.tar.xz ]]; then
  mkdir -p "$work/fashion-mnist"
  tar -xJf .device/fashion-mnist.tar.xz -C "$work/fashion-mnist"
  printf 'dataset:\n  root: %s\n' "$work/fashion-mnist" >"$work/data.yaml"
  data_config=(--config "$work/data.yaml")
fi
step default_recipe 90 "$lade" train --device "$device" --out "$work/run-default" \
  "${data_config[@]}" "${epochs[@]}"
step grid 40 sh -c "'$lade' evaluate --run '$work/run-default' --shift all --json >'$out/grid.json'"
if [[ $mode == gpu ]]; then
  # Evaluation in bf16 against fp32 on the same weights (one JSON object a line).
  step eval_bf16 30 sh -c "'$lade' evaluate --run '$work/run-default' --shift uniform --precision bf16 --json >>'$out/eval.json'"
  step eval_fp32 30 sh -c "'$lade' evaluate --run '$work/run-default' --shift uniform --precision fp32 --json >>'$out/eval.json'"
fi

# 4. Data-parallel training through the process-group code (NCCL on a GPU).
if "${run_deno[@]}" main.ts train --help 2>/dev/null | grep -q -- --nproc-per-node; then
  backend=gloo
  [[ $mode == gpu ]] && backend=nccl
  step dist 60 "${run_deno[@]}" main.ts train --nproc-per-node 1 --backend "$backend" --device "$device" \
    --epochs 1 --out "$work/run-dist" "${data_config[@]}"
fi

# Summary.
{
  echo "{"
  echo "  \"mode\": \"$mode\","
  echo "  \"seconds\": $(($(date +%s) - start)),"
  echo "  \"native_library\": \"$native\","
  echo "  \"steps\": {"
  first=1
  for k in "${!status[@]}"; do
    ((first)) || echo ","
    first=0
    printf '    "%s": {"status": "%s", "seconds": %s}' "$k" "${status[$k]}" "${seconds[$k]:-0}"
  done
  echo
  echo "  }"
  echo "}"
} >"$out/summary.json"
cat "$work/run-default/metrics.jsonl" >>"$log" 2>/dev/null
cat "$out/summary.json"
tail -n 40 "$log"
rm -rf "$work"
for k in "${!status[@]}"; do [[ ${status[$k]} == ok ]] || exit 1; done
exit 0
