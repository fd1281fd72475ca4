/**
 * The shell header of lade's self-extracting single file (scripts/compile.ts
 * appends the gzipped or xz tar payload to it). It unpacks the payload once
 * to `${XDG_CACHE_HOME:-~/.cache}/lade/app-<id>/` and runs from there:
 *
 * - a payload that does not unpack (a damaged or cut-short file) is one line
 *   on stderr and exit 1, with tar's and gzip's noise hidden and the half
 *   unpacked folder removed;
 * - the unpacked files are checked at every start (present, not empty) with
 *   shell builtins only, so a start needs no tool on PATH: a cache emptied or
 *   partly removed (a full disk, a cleaner) is unpacked again instead of
 *   running nothing.
 *
 * @module
 */

const TEMPLATE = `#!/bin/sh
# lade: a self-extracting single-file build (Deno runtime, lade, the native
# library and its sources). It unpacks itself once to
# \${XDG_CACHE_HOME:-~/.cache}/lade/app-@ID@ and runs from there.
set -e
dir="\${XDG_CACHE_HOME:-\${HOME:-/tmp}/.cache}/lade/app-@ID@"
# An unpacked folder is complete when marked so and its files are there and
# not empty (builtins only: a start needs nothing on PATH).
complete() {
  [ -f "$1/ok" ] && [ -s "$1/deno" ] && [ -s "$1/lade.js" ] && [ -s "$1/liblade.so" ]
}
if ! complete "$dir"; then
  rm -rf "$dir.tmp.$$"
  mkdir -p "$dir.tmp.$$"
  if ! tail -n +@SKIP@ "$0" | tar -x@Z@f - -C "$dir.tmp.$$" 2>/dev/null; then
    rm -rf "$dir.tmp.$$"
    echo "lade: error: $0 is damaged (its payload does not unpack); copy or build it again" >&2
    exit 1
  fi
  : > "$dir.tmp.$$/ok"
  # A folder that fails its check goes; a complete one from a concurrent run
  # stays (then the rename fails and this copy goes).
  if [ -d "$dir" ] && ! complete "$dir"; then rm -rf "$dir"; fi
  mv -T "$dir.tmp.$$" "$dir" 2>/dev/null || rm -rf "$dir.tmp.$$"
fi
export LADE_APP_DIR="$dir" DENO_NO_UPDATE_CHECK=1
exec "$dir/deno" run --allow-all --no-config --no-lock --quiet "$dir/lade.js" "$@"
`;

/**
 * The header for a payload with digest prefix `id`, compressed with xz
 * (`xz`) or gzip. The payload starts on the line after the header.
 */
export function selfExtractingHeader(id: string, xz: boolean): string {
  const skip = TEMPLATE.split("\n").length;
  return TEMPLATE.replaceAll("@ID@", id).replace("@SKIP@", String(skip)).replace(
    "@Z@",
    xz ? "J" : "z",
  );
}
