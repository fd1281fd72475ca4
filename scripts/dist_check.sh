#!/usr/bin/env bash
# Builds native/test/dist_check.cpp with native/src/dist.cpp against a
# libtorch and runs it at world size 1: Gloo where the build has it, NCCL on
# CUDA. For GPU machines (libtorch 2.x from a PyTorch wheel, no Deno needed):
#
#   bash scripts/dist_check.sh            # torch from python3, or LADE_TORCH_DIR
#
# Prints the compiler's errors, or one line per step and "dist_check: ok".
set -euo pipefail
cd "$(dirname "$0")/.."

torch_dir="${LADE_TORCH_DIR:-}"
if [[ -z "$torch_dir" ]]; then
  if python3 -c 'import torch' 2>/dev/null; then
    torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  elif [[ -d /usr/include/torch ]]; then
    torch_dir=/usr # Debian's libtorch-dev
  else
    echo "error: no libtorch (set LADE_TORCH_DIR)" >&2
    exit 1
  fi
fi
if [[ "$torch_dir" == /usr ]]; then
  inc=(-isystem /usr/include/torch/csrc/api/include)
  libdir=/usr/lib/x86_64-linux-gnu
else
  inc=(-isystem "$torch_dir/include" -isystem "$torch_dir/include/torch/csrc/api/include")
  libdir="$torch_dir/lib"
fi
defs=(-DLADE_WITH_C10D)
libs=(-ltorch -ltorch_cpu -lc10)
backends=()
if [[ -f /usr/include/gloo/context.h || -f "$torch_dir/include/gloo/context.h" ]]; then
  defs+=(-DLADE_WITH_GLOO -DUSE_C10D_GLOO)
  backends+=(gloo)
fi
if [[ -f "$libdir/libtorch_cuda.so" ]]; then
  nccl=""
  for d in "${NCCL_INCLUDE_DIR:-}" "$torch_dir/../nvidia/nccl/include" /usr/include /usr/local/cuda/include; do
    [[ -n "$d" && -f "$d/nccl.h" ]] && { nccl="$d"; break; }
  done
  cuda=""
  for d in "${CUDA_HOME:-/usr/local/cuda}/include" "$torch_dir/../nvidia/cuda_runtime/include"; do
    [[ -f "$d/cuda_runtime_api.h" ]] && { cuda="$d"; break; }
  done
  if [[ -n "$nccl" && -n "$cuda" ]]; then
    defs+=(-DLADE_WITH_NCCL -DUSE_C10D_NCCL)
    inc+=(-isystem "$nccl" -isystem "$cuda")
    for d in "$torch_dir"/../nvidia/*/include; do [[ -d "$d" ]] && inc+=(-isystem "$d"); done
    libs+=(-ltorch_cuda -lc10_cuda)
    backends+=(nccl)
  else
    echo "note: CUDA libtorch, but nccl.h ($nccl) or cuda_runtime_api.h ($cuda) not found" >&2
  fi
fi
abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null || echo 1)
out=build/dist_check
mkdir -p "$out"
echo "building dist_check against $torch_dir (backends: ${backends[*]:-none})"
flags=(-std=gnu++17 -O1 -fPIC -Wall -Wextra -D_GLIBCXX_USE_CXX11_ABI="$abi" "${defs[@]}" -Inative/include "${inc[@]}")
pids=()
for src in native/test/dist_check.cpp native/src/dist.cpp native/src/runtime.cpp; do
  g++ "${flags[@]}" -c "$src" -o "$out/$(basename "$src" .cpp).o" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
g++ "$out/dist_check.o" "$out/dist.o" "$out/runtime.o" -L"$libdir" -Wl,-rpath,"$libdir" \
  -Wl,--no-as-needed "${libs[@]}" -Wl,--as-needed -lpthread -o "$out/dist_check"
port=$((20000 + RANDOM % 20000))
status=0
for b in "${backends[@]}"; do
  "$out/dist_check" "$b" "$port" 0 || status=1
  port=$((port + 1))
done
exit "$status"
