/**
 * File names that are not UTF-8 (lib/torch/strings.ts): bytes decode to a
 * string with each stray byte escaped as a lone surrogate (PEP 383) and
 * encode back to the very bytes, so the native side opens the file the user
 * named; valid UTF-8, surrogate pairs (emoji) and byte-order marks inside
 * names are untouched.
 */

import assert from "node:assert/strict";
import { decodeNames, decodePath, encodePath, toCString } from "../../lib/torch/strings.ts";

Deno.test("names that are not UTF-8 survive the trip through a string byte for byte", () => {
  const cases = [
    Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6a, 0x70, 0x67), // caf\xe9.jpg (Latin-1)
    Uint8Array.of(0xff, 0xfe, 0x00 + 0x41), // not UTF-8 at all
    Uint8Array.of(0xed, 0xa0, 0x80), // an encoded surrogate: not valid UTF-8
    Uint8Array.of(0xe2, 0x82), // a sequence cut short
    Uint8Array.of(0xc3, 0xa9, 0x80, 0xf0, 0x9f, 0x98, 0x80), // é, a stray byte, 😀
  ];
  for (const bytes of cases) {
    const s = decodePath(bytes);
    assert.deepEqual(encodePath(s), bytes, JSON.stringify(s));
    assert.deepEqual(toCString(s), new Uint8Array([...bytes, 0]));
  }
  assert.equal(decodePath(cases[0]), "caf\udce9.jpg");
  assert.equal(decodePath(cases[4]), "\u00e9\udc80\u{1f600}");
  // Valid UTF-8 is plain, and a plain string (an emoji's surrogate pair too) encodes as UTF-8.
  for (const s of ["photo.jpg", "ünï.png", "😀.png", "\ufeffa"]) {
    assert.equal(decodePath(new TextEncoder().encode(s)), s);
    assert.deepEqual(encodePath(s), new TextEncoder().encode(s));
  }
  // A list file: its leading BOM dropped, the names kept.
  assert.equal(
    decodeNames(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61, 0xe9, 0x0a)),
    "a\udce9\n",
  );
});
