/**
 * Strings across the C ABI: the one place that encodes them for the native
 * side and reads the ones it returns.
 *
 * File names on Linux are bytes, not necessarily UTF-8 (a photo named
 * `caf\xe9.jpg` in Latin-1). Such a name is carried in a JavaScript string
 * the way Python carries it (PEP 383, "surrogateescape"): each byte that is
 * not part of valid UTF-8 becomes the lone surrogate U+DC00 + byte.
 * `decodePath` makes such strings from bytes, and `toCString` turns them
 * back into the very bytes, so the native side opens the file the user
 * named. Valid UTF-8 is untouched either way.
 *
 * @module
 */

const encoder = new TextEncoder();
// ignoreBOM: a U+FEFF inside a name (or at the start of a run) is kept as it is.
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A lone low surrogate U+DC80..U+DCFF: an escaped byte (a surrogate pair's second half is not). */
const ESCAPED_BYTE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** `text` as bytes: UTF-8, with escaped bytes (see the module notes) turned back into themselves. */
export function encodePath(text: string): Uint8Array<ArrayBuffer> {
  if (!ESCAPED_BYTE.test(text)) return encoder.encode(text);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const lone = c >= 0xdc80 && c <= 0xdcff &&
      !(i > 0 && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff);
    if (!lone) continue;
    parts.push(encoder.encode(text.slice(start, i)), Uint8Array.of(c - 0xdc00));
    start = i + 1;
  }
  parts.push(encoder.encode(text.slice(start)));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The length of the valid UTF-8 sequence at `bytes[i]`, or 0 when there is none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i];
  if (b < 0x80) return 1;
  const cont = (k: number, low = 0x80, high = 0xbf) =>
    i + k < bytes.length && bytes[i + k] >= low && bytes[i + k] <= high;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no surrogates
  if (b >= 0xe1 && b <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b >= 0xf1 && b <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * A text file of names (an image list) as a string: `decodePath` of its
 * bytes, a leading byte-order mark dropped.
 */
export function decodeNames(bytes: Uint8Array): string {
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return decodePath(bom ? bytes.subarray(3) : bytes);
}

/**
 * `bytes` as a string: UTF-8 where they are UTF-8, each other byte escaped
 * as U+DC00 + byte (see the module notes), so that `encodePath` gives the
 * same bytes back.
 */
export function decodePath(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    // Some bytes are not UTF-8: valid runs decoded whole, the rest escaped.
  }
  const out: string[] = [];
  let run = 0;
  for (let i = 0; i < bytes.length;) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (run < i) out.push(strict.decode(bytes.subarray(run, i)));
    out.push(String.fromCharCode(0xdc00 + bytes[i]));
    i++;
    run = i;
  }
  if (run < bytes.length) out.push(strict.decode(bytes.subarray(run)));
  return out.join("");
}

/** A NUL-terminated copy of `text` (a `const char*` argument: a path, a name); see `encodePath`. */
export function toCString(text: string): Uint8Array<ArrayBuffer> {
  return encodePath(text + "\0");
}

/**
 * `items` as NUL-separated bytes (each one NUL-terminated; see
 * `encodePath`): the `const char* paths, int64_t nbytes` argument pair of
 * the native side reads the result and its length.
 */
export function toCStringList(items: readonly string[]): Uint8Array<ArrayBuffer> {
  return encodePath(items.map((item) => item + "\0").join(""));
}

/** Reads a NUL-terminated C string returned by the library ("" for NULL). */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : new Deno.UnsafePointerView(ptr).getCString();
}
