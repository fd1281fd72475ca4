/**
 * Strings across the C ABI: the one place that encodes them for the native
 * side and reads the ones it returns.
 *
 * @module
 */

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `text` (a `const char*` argument: a path, a name). */
export function toCString(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text + "\0");
}

/**
 * `items` as NUL-separated UTF-8 (each one NUL-terminated): the
 * `const char* paths, int64_t nbytes` argument pair of the native side reads
 * the result and its length.
 */
export function toCStringList(items: readonly string[]): Uint8Array<ArrayBuffer> {
  return encoder.encode(items.map((item) => item + "\0").join(""));
}

/** Reads a NUL-terminated C string returned by the library ("" for NULL). */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : new Deno.UnsafePointerView(ptr).getCString();
}
