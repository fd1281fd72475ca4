/**
 * The command line's arguments as the user gave them. Deno hands over
 * `Deno.args` decoded as UTF-8, each byte that is not UTF-8 replaced by
 * U+FFFD: an image named `caf\xe9.jpg` (Latin-1) would be looked for as
 * `caf\ufffd.jpg` and never found. On Linux the exact bytes are in
 * /proc/self/cmdline; an argument that lost bytes is taken from there,
 * carried as lib/torch/strings.ts carries such names (each stray byte as a
 * lone surrogate), so that the native side opens the very file.
 *
 * @module
 */

import { decodePath } from "../torch/strings.ts";

/** `args` (default Deno.args) with any argument that lost bytes restored from /proc/self/cmdline. */
export function commandLineArgs(args: readonly string[] = Deno.args): string[] {
  if (!args.some((a) => a.includes("\ufffd"))) return [...args];
  let raw: Uint8Array;
  try {
    raw = Deno.readFileSync("/proc/self/cmdline");
  } catch {
    return [...args]; // not Linux: as Deno gave them
  }
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      parts.push(raw.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < raw.length) parts.push(raw.subarray(start));
  // The user's arguments are the last ones (after deno's own and the script).
  if (parts.length < args.length) return [...args];
  const tail = parts.slice(parts.length - args.length);
  const lossy = new TextDecoder();
  return args.map((a, i) =>
    // Only where the bytes are this very argument, decoded lossily.
    a.includes("\ufffd") && lossy.decode(tail[i]) === a ? decodePath(tail[i]) : a
  );
}
