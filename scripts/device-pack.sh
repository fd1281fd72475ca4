#!/usr/bin/env bash
# Fills .device/ (ignored by git; or the folder given as the argument) with
# what a GPU machine lacks, for scripts/device-check.sh to run there in one
# call:
#   .device/lade          the single binary (scripts/compile.ts --xz): the
#                         Deno runtime, lade bundled, the native library built
#                         here, its torch.json and the native sources, so that
#                         it rebuilds itself for the machine's own libtorch;
#                         it unpacks to $XDG_CACHE_HOME/lade/app-<id>/, whose
#                         `deno` the check then uses for the tree;
#   .device/npm.tar.xz    Deno's npm cache, cut down to the packages deno.lock
#                         pins, so the tests and benchmarks run from the tree
#                         offline;
#   .device/fashion-mnist.tar.xz
#                         with --data: Debian's Fashion-MNIST (the default
#                         recipe's data; a GPU machine has no Debian package),
#                         the four IDX files uncompressed in one xz stream
#                         (25 MiB, 4 less than the .gz files).
# The tree (what git tracks or would track) and the folder together must stay
# under 64 MiB (the device tool's limit); this script fails when they do not.
#
#   deno task device-pack            # into .device/, with the data
#   bash scripts/device-pack.sh [--data] [DIR]  # into DIR (the tests: no data)
set -euo pipefail
cd "$(dirname "$0")/.."

deno="${DENO_EXEC_PATH:-$(command -v deno || true)}"
[[ -n "$deno" ]] || { echo "error: run through 'npx deno@2.9.6 task device-pack'" >&2; exit 1; }
command -v xz >/dev/null || { echo "error: xz is missing (apt-get install xz-utils)" >&2; exit 1; }
data=0
if [[ "${1:-}" == "--data" ]]; then
  data=1
  shift
fi
dest="${1:-.device}"
# xz's preset for the binary and the npm cache (LADE_XZ_PRESET, default 6; the
# tests use 0: ten times faster, a little larger, so a fit at 0 is a fit at 6).
preset=${LADE_XZ_PRESET:-6}
[[ "$preset" =~ ^[0-9]$ ]] || { echo "error: LADE_XZ_PRESET must be 0 to 9" >&2; exit 1; }
limit=$((64 * 1024 * 1024))

mkdir -p "$dest"
"$deno" run -A scripts/compile.ts --xz "$dest/lade.tmp"
mv "$dest/lade.tmp" "$dest/lade"

# The npm cache Deno uses (DENO_DIR, else ~/.cache/deno): make sure it holds
# every locked package, then pack those (and their registry metadata) only.
deno_dir="${DENO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deno}"
"$deno" install --quiet
"$deno" eval --no-lock 'const lock = JSON.parse(Deno.readTextFileSync("deno.lock"));
const seen = new Set();
for (const key of Object.keys(lock.npm ?? {})) {
  const at = key.indexOf("@", 1);
  const name = key.slice(0, at);
  const version = key.slice(at + 1).split("_")[0];
  for (const p of [`${name}/registry.json`, `${name}/${version}`]) {
    if (!seen.has(p)) console.log(`npm/registry.npmjs.org/${p}`);
    seen.add(p);
  }
}' >"$dest/npm.list"
# (A package's registry.json is there only for what Deno looked up; the
# lock makes the others unnecessary. Its folder must be there.)
missing=0
while read -r p; do
  if [[ ! -e "$deno_dir/$p" ]]; then
    [[ $p == */registry.json ]] && continue
    echo "error: $deno_dir/$p is missing" >&2
    missing=1
  fi
  echo "$p"
done <"$dest/npm.list" >"$dest/npm.present"
((missing == 0)) || exit 1
tar -C "$deno_dir" -cf - -T "$dest/npm.present" | xz -T0 "-$preset" >"$dest/npm.tar.xz.tmp"
mv "$dest/npm.tar.xz.tmp" "$dest/npm.tar.xz"
rm -f "$dest/npm.list" "$dest/npm.present"

if ((data)); then
  src=/usr/share/datasets/fashion-mnist
  [[ -f $src/train-images-idx3-ubyte.gz ]] || {
    echo "error: no Fashion-MNIST in $src (apt-get install dataset-fashion-mnist)" >&2
    exit 1
  }
  stage=$(mktemp -d)
  for f in "$src"/*-ubyte.gz; do gzip -dc "$f" >"$stage/$(basename "$f" .gz)"; done
  tar -C "$stage" -cf - . | xz -T0 -9 >"$dest/fashion-mnist.tar.xz.tmp"
  rm -rf "$stage"
  mv "$dest/fashion-mnist.tar.xz.tmp" "$dest/fashion-mnist.tar.xz"
fi

# What travels: tracked files, untracked files git does not ignore, and the folder.
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null |
  awk '{s += $1} END {print s + 0}')
pack_bytes=$(find "$dest" -maxdepth 1 -type f -printf '%s\n' | awk '{s += $1} END {print s}')
total=$((tree_bytes + pack_bytes))
awk -v t="$tree_bytes" -v p="$pack_bytes" -v d="$dest" 'BEGIN {
  printf "tree %.1f MiB + %s %.1f MiB = %.1f MiB (limit 64 MiB)\n", t / 1048576, d, p / 1048576, (t + p) / 1048576 }'
if ((total > limit)); then
  echo "error: the tree and $dest exceed 64 MiB" >&2
  exit 1
fi
