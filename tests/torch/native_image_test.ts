// The native image codecs (native/src/image_codec.cpp) on broken input:
// corrupt headers (libjpeg's error exit, a longjmp), truncated files, CMYK
// JPEGs (decoded through libjpeg's scratch rows). `deno task sanitize` runs
// these under AddressSanitizer and UndefinedBehaviorSanitizer.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readImage, writeImage } from "../../lib/data/image_io.ts";
import { probeImages } from "../../lib/data/image_list.ts";
import { tensor } from "../../lib/torch/mod.ts";

/** A 16 x 12 CMYK JPEG (with an Adobe marker) of the flat colour RGB (200, 40, 90). */
const CMYK_JPEG = Uint8Array.from(
  atob(
    "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwABAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB/8AAFAgADAAQBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD+kCv5P6/M+v7+KKKKKKKKKKKKK//Z",
  ),
  (c) => c.charCodeAt(0),
);

/** The offset of the first JPEG frame header (SOF0..SOF2). */
function sofOffset(bytes: Uint8Array): number {
  for (let i = 2; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] >= 0xc0 && bytes[i + 1] <= 0xc2) return i;
  }
  throw new Error("no frame header");
}

function decodeFails(path: string, pattern: RegExp): void {
  assert.throws(
    () => readImage(path),
    (e: unknown) => e instanceof Error && pattern.test(e.message) && e.message.includes(path),
  );
}

Deno.test("a CMYK JPEG decodes to RGB; cut short it fails cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-codec-" });
  try {
    await Deno.writeFile(join(dir, "cmyk.jpg"), CMYK_JPEG);
    {
      using img = readImage(join(dir, "cmyk.jpg"));
      assert.deepEqual(img.shape, [3, 12, 16]);
      const px = img.toArray() as Uint8Array;
      for (let k = 0; k < px.length; k++) {
        const want = [200, 40, 90][Math.floor(k / (12 * 16))];
        assert.ok(Math.abs(px[k] - want) <= 2, `${px[k]} vs ${want}`);
      }
    }
    await Deno.writeFile(
      join(dir, "cut.jpg"),
      CMYK_JPEG.subarray(0, Math.floor(CMYK_JPEG.length * 0.7)),
    );
    decodeFails(join(dir, "cut.jpg"), /cannot decode JPEG image/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("corrupt JPEG headers and data end in an error, and decoding goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-codec-" });
  try {
    // A frame header with 7 components: libjpeg's error exit, from inside jpeg_read_header.
    const badComponents = CMYK_JPEG.slice();
    badComponents[sofOffset(badComponents) + 9] = 7;
    await Deno.writeFile(join(dir, "components.jpg"), badComponents);
    decodeFails(join(dir, "components.jpg"), /cannot decode JPEG image/);
    // A zero-width frame.
    const zeroWidth = CMYK_JPEG.slice();
    zeroWidth[sofOffset(zeroWidth) + 7] = 0;
    zeroWidth[sofOffset(zeroWidth) + 8] = 0;
    await Deno.writeFile(join(dir, "width.jpg"), zeroWidth);
    decodeFails(join(dir, "width.jpg"), /cannot decode JPEG image/);
    // The magic bytes, then noise.
    const noise = new Uint8Array(600);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 73 + 41) & 0xff;
    noise.set([0xff, 0xd8, 0xff], 0);
    await Deno.writeFile(join(dir, "noise.jpg"), noise);
    decodeFails(join(dir, "noise.jpg"), /cannot decode JPEG image/);
    // Scan data overwritten: libjpeg warns and fills in; whatever it decides, it must not crash.
    const scrambled = CMYK_JPEG.slice();
    for (let i = scrambled.length - 120; i < scrambled.length - 2; i++) scrambled[i] ^= 0x5a;
    await Deno.writeFile(join(dir, "scrambled.jpg"), scrambled);
    try {
      readImage(join(dir, "scrambled.jpg")).dispose();
    } catch (e) {
      assert.match((e as Error).message, /cannot decode JPEG image/);
    }
    // Empty and tiny files.
    await Deno.writeFile(join(dir, "empty.jpg"), new Uint8Array());
    decodeFails(join(dir, "empty.jpg"), /not a JPEG or PNG file/);
    await Deno.writeFile(join(dir, "soi.jpg"), new Uint8Array([0xff, 0xd8, 0xff]));
    decodeFails(join(dir, "soi.jpg"), /cannot decode JPEG image/);
    // The decoder still works afterwards.
    await Deno.writeFile(join(dir, "good.jpg"), CMYK_JPEG);
    using img = readImage(join(dir, "good.jpg"));
    assert.deepEqual(img.shape, [3, 12, 16]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("truncated and corrupt PNGs end in an error; probing reports them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-codec-" });
  try {
    const pixels = new Uint8Array(3 * 20 * 30);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31) & 0xff;
    {
      using img = tensor(pixels, [3, 20, 30]);
      writeImage(img, join(dir, "good.png"));
    }
    const png = await Deno.readFile(join(dir, "good.png"));
    await Deno.writeFile(join(dir, "cut.png"), png.subarray(0, Math.floor(png.length * 0.6)));
    decodeFails(join(dir, "cut.png"), /cannot decode PNG image/);
    await Deno.writeFile(join(dir, "header.png"), png.subarray(0, 20));
    decodeFails(join(dir, "header.png"), /cannot decode PNG image/);
    const corrupt = png.slice();
    for (let i = 60; i < Math.min(corrupt.length - 12, 120); i++) corrupt[i] ^= 0xff;
    await Deno.writeFile(join(dir, "corrupt.png"), corrupt);
    decodeFails(join(dir, "corrupt.png"), /cannot decode PNG image/);
    await Deno.writeFile(join(dir, "cmyk.jpg"), CMYK_JPEG);
    const probe = probeImages(
      ["good.png", "cut.png", "header.png", "cmyk.jpg", "missing.png"].map((f) => join(dir, f)),
      2,
    );
    assert.deepEqual(probe.sizes[0], { width: 30, height: 20, channels: 3 });
    assert.deepEqual(probe.sizes[3], { width: 16, height: 12, channels: 3 });
    assert.equal(probe.sizes[2], null);
    assert.equal(probe.sizes[4], null);
    assert.equal(probe.bad, 2);
    using back = readImage(join(dir, "good.png"));
    assert.deepEqual(back.toArray(), pixels);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
