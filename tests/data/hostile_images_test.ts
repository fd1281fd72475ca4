/**
 * Image files that lie: headers claiming sizes the data does not have, JPEG
 * scans cut short or scrambled, lists that lead outside their root or name
 * absurd labels. Each is refused with an InputError before anything is sized
 * by it (before: a 100-byte PNG claiming 100000x100000 allocated 4.4 GB, and
 * corrupt JPEGs decoded to grey without a word).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { loadDataset, printableName } from "../../lib/data/datasets.ts";
import { readImage, writeImage } from "../../lib/data/image_io.ts";
import { escapesRoot, probeImages, verifyImages } from "../../lib/data/image_list.ts";
import { FileImageSet } from "../../lib/data/image_set.ts";
import { tensor } from "../../lib/torch/create.ts";
import { makeImages, writeFlatImage } from "./fixtures.ts";

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG's bytes with its IHDR size replaced (and the chunk's CRC fixed). */
function pngClaiming(png: Uint8Array, width: number, height: number): Uint8Array {
  const out = png.slice();
  const v = new DataView(out.buffer);
  v.setUint32(16, width);
  v.setUint32(20, height);
  v.setUint32(29, crc32(out.subarray(12, 29)));
  return out;
}

/** A JPEG's bytes with its frame header's size replaced. */
function jpegClaiming(jpg: Uint8Array, width: number, height: number): Uint8Array {
  const out = jpg.slice();
  for (let i = 2; i < out.length - 9; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      const v = new DataView(out.buffer);
      v.setUint16(i + 5, height);
      v.setUint16(i + 7, width);
      return out;
    }
  }
  throw new Error("no frame header");
}

/** Where the entropy-coded data of a baseline JPEG starts (after SOS). */
function scanStart(jpg: Uint8Array): number {
  for (let i = 2; i < jpg.length - 4; i++) {
    if (jpg[i] === 0xff && jpg[i + 1] === 0xda) return i + 2 + ((jpg[i + 2] << 8) | jpg[i + 3]);
  }
  throw new Error("no scan");
}

async function noisyJpeg(dir: string): Promise<Uint8Array> {
  using noisy = tensor(makeImages(1, 3, 64), [3, 64, 64]);
  writeImage(noisy, join(dir, "noisy.jpg"), 90);
  return await Deno.readFile(join(dir, "noisy.jpg"));
}

Deno.test("a header claiming a huge image is refused before its pixels are allocated", async () => {
  const dir = await Deno.makeTempDir();
  try {
    writeFlatImage(join(dir, "small.png"), [1, 2, 3], 40, 40);
    const png = await Deno.readFile(join(dir, "small.png"));
    await Deno.writeFile(join(dir, "bomb.png"), pngClaiming(png, 100000, 100000));
    const jpg = await noisyJpeg(dir);
    await Deno.writeFile(join(dir, "bomb.jpg"), jpegClaiming(jpg, 65000, 65000));
    for (const name of ["bomb.png", "bomb.jpg"]) {
      const path = join(dir, name);
      assert.throws(
        () => readImage(path),
        (e: Error) =>
          e instanceof InputError && e.message.includes(path) &&
          /is \d+ pixels, over the limit of 89478485 pixels \(raise the limit with `maxImagePixels`\)$/
            .test(e.message),
      );
      const probe = probeImages([path], 1);
      assert.equal(probe.bad, 1);
      assert.match(probe.firstError, /over the limit of 89478485 pixels/);
      const [why] = await verifyImages([path]);
      assert.match(why!, /over the limit of 89478485 pixels/);
    }
    // The limit is the caller's to choose: a 40x40 image is over a limit of 1000.
    assert.throws(
      () => readImage(join(dir, "small.png"), 1000),
      /1600 pixels, over the limit of 1000/,
    );
    assert.throws(() => readImage(join(dir, "small.png"), 0), /maxImagePixels: must be an integer/);
    using ok = readImage(join(dir, "small.png"), 1600);
    assert.deepEqual(ok.shape, [3, 40, 40]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("corrupt JPEG data is an error, not grey pixels", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const jpg = await noisyJpeg(dir);
    const start = scanStart(jpg);
    // The scan cut off, with an end-of-image marker appended.
    const cut = new Uint8Array([
      ...jpg.subarray(0, start + ((jpg.length - start) >> 1)),
      0xff,
      0xd9,
    ]);
    // Entropy data scrambled (no 0xFF bytes made, so no false markers).
    const scrambled = jpg.slice();
    for (let i = start + 40; i < jpg.length - 40; i += 7) {
      if (scrambled[i] !== 0xff && scrambled[i - 1] !== 0xff) {
        scrambled[i] = (scrambled[i] * 31 + 17) % 255;
      }
    }
    await Deno.writeFile(join(dir, "cut.jpg"), cut);
    await Deno.writeFile(join(dir, "scrambled.jpg"), scrambled);
    for (const name of ["cut.jpg", "scrambled.jpg"]) {
      const path = join(dir, name);
      assert.throws(
        () => readImage(path),
        (e: Error) =>
          e instanceof InputError && e.message.startsWith(`cannot decode JPEG image ${path}: `) &&
          /Corrupt JPEG data|premature end|Huffman/i.test(e.message),
        name,
      );
      const [why] = await verifyImages([path]);
      assert.ok(why !== null, `${name} verifies as readable`);
      // The header alone is fine: probing does not see it.
      assert.equal(probeImages([path], 1).bad, 0);
    }
    using good = readImage(join(dir, "noisy.jpg"));
    assert.deepEqual(good.shape, [3, 64, 64]);
    assert.deepEqual(await verifyImages([join(dir, "noisy.jpg")]), [null]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A list dataset of 3 classes, 2 images each, plus extra train lines. */
async function writeLists(dir: string, extraTrain = ""): Promise<void> {
  await Deno.mkdir(join(dir, "img"), { recursive: true });
  const lines: string[] = [];
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < 2; k++) {
      writeFlatImage(join(dir, `img/${c}_${k}.png`), [40 * c, 90, 200], 12, 12);
      lines.push(`img/${c}_${k}.png ${c}`);
    }
  }
  await Deno.writeTextFile(join(dir, "train.txt"), lines.join("\n") + "\n" + extraTrain);
  await Deno.writeTextFile(join(dir, "test.txt"), lines.join("\n") + "\n");
}

Deno.test("image lists: paths outside the root, absurd labels, declared classes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.ok(escapesRoot("../x.png") && escapesRoot("a/../../x.png") && escapesRoot(".."));
    assert.ok(!escapesRoot("a/../x.png") && !escapesRoot("/abs/x.png") && !escapesRoot("..x.png"));
    const sub = join(dir, "data");
    await writeLists(sub, "../outside.png 1\n");
    writeFlatImage(join(dir, "outside.png"), [9, 9, 9], 12, 12);
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: sub, imageSize: 8 }),
      (e: Error) =>
        e instanceof InputError && e.parameter === "imageRoot" &&
        /train\.txt:7: '\.\.\/outside\.png' leads outside the image root .*; pass `allowOutsideRoot` if that is meant$/
          .test(e.message),
    );
    const allowed = await loadDataset({
      dataset: "image-list",
      root: sub,
      imageSize: 8,
      allowOutsideRoot: true,
    });
    assert.deepEqual(allowed.trainCounts, [2, 3, 2]);
    allowed.dispose();

    // One label of 100000 in a 3-class list: refused, nothing sized by it.
    await writeLists(sub, "img/0_0.png 100000\n");
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: sub, imageSize: 8 }),
      /train\.txt: its largest label 100000 \(line 7\) makes 100001 classes, but only 4 of them have training images \(none for class 3, 4, 5, \.\.\.\)/,
    );
    await writeLists(sub, "img/0_0.png 2147483647\n");
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: sub, imageSize: 8 }),
      /train\.txt:7: label 2147483647 would make 2147483648 classes, more than 1000000/,
    );
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: sub, imageSize: 8, classes: 3 }),
      (e: Error) =>
        e instanceof InputError && e.parameter === "classes" &&
        /train\.txt:7: label 2147483647 is outside 0\.\.2 \(3 classes declared\)/.test(e.message),
    );
    await writeLists(sub);
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: sub, imageSize: 8, classes: 5 }),
      /2 of the 5 declared classes have no training images \(none for class 3, 4\)/,
    );
    const three = await loadDataset({ dataset: "image-list", root: sub, imageSize: 8, classes: 3 });
    assert.equal(three.classes, 3);
    three.dispose();
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: sub, imageSize: 100000 }),
      /imageSize: must be an integer from 8 to 4096, got 100000/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skipping bad images decodes them all at load: corrupt data is skipped too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeLists(dir, "img/scrambled.jpg 0\n");
    const jpg = await noisyJpeg(dir);
    const start = scanStart(jpg);
    const bad = new Uint8Array([...jpg.subarray(0, start + 20), 0xff, 0xd9]);
    await Deno.writeFile(join(dir, "img/scrambled.jpg"), bad);
    const warnings: string[] = [];
    const d = await loadDataset({
      dataset: "image-list",
      root: dir,
      imageSize: 8,
      skipBadImages: true,
      onWarning: (w) => warnings.push(w),
    });
    assert.deepEqual(d.trainCounts, [2, 2, 2]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /skipping 1 unreadable image\(s\) of .*train\.txt, e\.g\. cannot decode JPEG/,
    );
    d.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("class names are printable: control characters replaced, length capped", () => {
  assert.equal(printableName("cat\u001b[31mred\u0007"), "cat\ufffd[31mred\ufffd");
  assert.equal(printableName("a\nb\u009bc"), "a\ufffdb\ufffdc");
  assert.equal(printableName("x".repeat(300)).length, 200);
  assert.equal(printableName("dog"), "dog");
});

Deno.test("image sets and loaders: bad arguments are InputErrors naming them, not RangeErrors", async () => {
  const { TensorImageSet } = await import("../../lib/data/image_set.ts");
  const { BatchLoader } = await import("../../lib/data/batch_loader.ts");
  assert.throws(
    () => new FileImageSet(["a.png", "b.png"], Int32Array.from([0]), 8),
    (e: Error) => e instanceof InputError && e.parameter === "labels",
  );
  const images = tensor(new Uint8Array(2 * 1 * 4 * 4), [2, 1, 4, 4]);
  const set = new TensorImageSet(images, Int32Array.from([0, 1]));
  assert.throws(() => set.subset(Int32Array.from([5])), (e: Error) => e instanceof InputError);
  // Counts that size native threads and memory are bounded (5000 workers started 5000 threads).
  for (const [key, value, max] of [["workers", 5000, 256], ["prefetch", 1e6, 64]] as const) {
    assert.throws(
      () =>
        new BatchLoader(set, { mean: [0.5], std: [1] }, {
          batchSize: 1,
          train: false,
          device: "cpu",
          seed: 0,
          [key]: value,
        }),
      (e: Error) =>
        e instanceof InputError && e.parameter === key &&
        e.message.endsWith(`must be an integer from 1 to ${max}, got ${value}`),
    );
  }
  assert.throws(
    () =>
      new BatchLoader(set, { mean: [0.5, 0.5], std: [1, 1] }, {
        batchSize: 1,
        train: false,
        device: "cpu",
        seed: 0,
      }),
    (e: Error) => e instanceof InputError && e.parameter === "mean",
  );
  set.dispose();
});

Deno.test("a folder or a FIFO where an image should be: said so, without blocking", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = join(dir, "pipe.png");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    await Deno.mkdir(join(dir, "folder.jpg"));
    using img = tensor(new Uint8Array(3 * 8 * 8).fill(9), [3, 8, 8]);
    writeImage(img, join(dir, "ok.png"));
    // Reading headers (image lists) and decoding: neither opens the FIFO.
    const probe = probeImages([join(dir, "folder.jpg"), fifo, join(dir, "ok.png")], 1);
    assert.equal(probe.bad, 2);
    assert.deepEqual(probe.sizes[2], { width: 8, height: 8, channels: 3 });
    assert.match(probe.firstError, /folder\.jpg is a folder, not an image file$/);
    assert.throws(
      () => readImage(join(dir, "folder.jpg")),
      (e: unknown) =>
        e instanceof InputError && /folder\.jpg is a folder, not an image file$/.test(e.message),
    );
    assert.throws(
      () => readImage(fifo),
      (e: unknown) =>
        e instanceof InputError &&
        /pipe\.png is not a regular file \(a FIFO, device or socket\), not an image file$/.test(
          e.message,
        ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
