import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { BatchLoader } from "../../lib/data/batch_loader.ts";
import { loadDataset } from "../../lib/data/datasets.ts";
import { readImage, writeImage } from "../../lib/data/image_io.ts";
import { FileImageSet } from "../../lib/data/image_set.ts";
import { parseImageList } from "../../lib/data/image_list.ts";
import { tensor } from "../../lib/torch/create.ts";
import { makeImages, writeFlatImage } from "./fixtures.ts";

Deno.test("PNG round trip is exact (RGB and grey); JPEG of flat colour is within 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const c of [3, 1]) {
      const data = makeImages(1, c, 13).subarray(0, c * 13 * 11);
      using img = tensor(data, [c, 11, 13]);
      writeImage(img, join(dir, `x${c}.png`));
      using back = readImage(join(dir, `x${c}.png`));
      assert.deepEqual(back.shape, [c, 11, 13]);
      assert.deepEqual(back.toArray(), data);
    }
    writeFlatImage(join(dir, "flat.jpg"), [200, 40, 90], 24, 16);
    using jpg = readImage(join(dir, "flat.jpg"));
    assert.deepEqual(jpg.shape, [3, 16, 24]);
    const px = jpg.toArray() as Uint8Array;
    for (let k = 0; k < px.length; k++) {
      const want = [200, 40, 90][Math.floor(k / (16 * 24))];
      assert.ok(Math.abs(px[k] - want) <= 1, `${px[k]} vs ${want}`);
    }
    writeFlatImage(join(dir, "grey.jpg"), [77], 9, 9);
    using grey = readImage(join(dir, "grey.jpg"));
    assert.deepEqual(grey.shape, [1, 9, 9]);
    assert.throws(() => readImage(join(dir, "none.png")), InputError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("list parsing: paths with spaces, comments, bad lines", () => {
  const list = parseImageList("a/b c.jpg 3\n\n# note\nd.png 0\r\n", "l.txt");
  assert.deepEqual(list.paths, ["a/b c.jpg", "d.png"]);
  assert.deepEqual(Array.from(list.labels), [3, 0]);
  assert.deepEqual(list.lines, [1, 4]);
  assert.throws(
    () => parseImageList("a.jpg\n", "l.txt"),
    /l\.txt:1: expected 'relative\/path label'/,
  );
  assert.throws(() => parseImageList("a.jpg -1\n", "l.txt"), /l\.txt:1: label -1 outside/);
  assert.throws(() => parseImageList("\n", "l.txt"), /empty/);
});

/** Writes a list dataset: class c's images are flat colour (20c + 10, 100, 250 - 20c). */
async function writeListDataset(dir: string): Promise<void> {
  await Deno.mkdir(join(dir, "img", "a"), { recursive: true });
  const train: string[] = [];
  const test: string[] = [];
  for (let c = 0; c < 4; c++) {
    const colour = [20 * c + 10, 100, 250 - 20 * c];
    for (let k = 0; k < 4 - c; k++) {
      const name = `img/a/tr${c}_${k}.${k % 2 ? "png" : "jpg"}`;
      writeFlatImage(join(dir, name), colour, 40 + 8 * k, 32 + 8 * c);
      train.push(`${name} ${c}`);
    }
    const name = `img/te${c}.png`;
    writeFlatImage(join(dir, name), colour, 30, 30);
    test.push(`${name} ${c}`);
  }
  await Deno.writeTextFile(join(dir, "Toy_LT_train.txt"), train.join("\n") + "\n");
  await Deno.writeTextFile(join(dir, "Toy_LT_test.txt"), test.join("\n") + "\n");
}

Deno.test("image lists: counts, labels, decoded and normalised batches", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeListDataset(dir);
    const splits = await loadDataset({ dataset: "image-list", root: dir, imageSize: 16 });
    try {
      assert.equal(splits.classes, 4);
      assert.deepEqual(splits.trainCounts, [4, 3, 2, 1]);
      assert.deepEqual(splits.testCounts, [1, 1, 1, 1]);
      assert.equal(splits.train.imageSize, 16);
      assert.equal(splits.train.channels, 3);
      assert.ok((splits.train as FileImageSet).path(0).endsWith("img/a/tr0_0.jpg"));
      for (const train of [false, true]) {
        using loader = new BatchLoader(splits.train, splits, {
          batchSize: 3,
          train,
          device: "cpu",
          seed: 4,
          workers: 2,
        });
        const order = loader.order(0);
        let k = 0;
        for await (const batch of loader.epoch(0)) {
          assert.deepEqual(batch.images.shape.slice(1), [3, 16, 16]);
          const v = batch.images.toArray() as Float32Array;
          const labels = batch.labels.toList();
          labels.forEach((y, j) => {
            assert.equal(y, splits.train.labels[order[k + j]]);
            const colour = [20 * y + 10, 100, 250 - 20 * y];
            for (let c = 0; c < 3; c++) {
              for (const p of [0, 100, 255]) {
                const got = v[(j * 3 + c) * 256 + p] * splits.std[c] + splits.mean[c];
                // JPEG may move a flat colour by 1; PNG is exact.
                assert.ok(Math.abs(got * 255 - colour[c]) <= 1.01, `${got * 255} vs ${colour[c]}`);
              }
            }
          });
          k += labels.length;
          batch.dispose();
        }
        assert.equal(k, 10);
      }
    } finally {
      splits.dispose();
    }
    const lt = await loadDataset({ dataset: "image-list-lt", root: dir, imbalance: 4 });
    // n_max = 10 / 4 = 2: 2, 2 * 4^(-1/3) = 1.26, 2 * 4^(-2/3) = 0.79, 0.5; then clamp to what exists.
    assert.deepEqual(lt.trainCounts, [2, 1, 0, 0]);
    lt.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluation crops keep the image's orientation; training flips are mirror images", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Left half black, right half white.
    const w = 64, h = 48;
    const data = new Uint8Array(3 * w * h);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) data.fill(255, (c * h + y) * w + w / 2, (c * h + y + 1) * w);
    }
    using img = tensor(data, [3, h, w]);
    writeImage(img, join(dir, "half.png"));
    const set = new FileImageSet([join(dir, "half.png")], Int32Array.from([0]), 16);
    const norm = { mean: [0, 0, 0], std: [1, 1, 1] };
    using evalLoader = new BatchLoader(set, norm, {
      batchSize: 1,
      train: false,
      device: "cpu",
      seed: 0,
    });
    for await (const batch of evalLoader.epoch(0)) {
      const v = batch.images.toArray() as Float32Array;
      assert.equal(v[0], 0);
      assert.equal(v[15], 1);
      batch.dispose();
    }
    // Over many epochs a training crop shows white on the left (a flip) and on the right.
    using trainLoader = new BatchLoader(set, norm, {
      batchSize: 1,
      train: true,
      device: "cpu",
      seed: 0,
    });
    let flipped = 0, straight = 0;
    for (let e = 0; e < 20; e++) {
      for await (const batch of trainLoader.epoch(e)) {
        const v = batch.images.toArray() as Float32Array;
        if (v[8 * 16] > v[8 * 16 + 15]) flipped++;
        if (v[8 * 16] < v[8 * 16 + 15]) straight++;
        batch.dispose();
      }
    }
    assert.ok(flipped > 0 && straight > 0, `flipped ${flipped}, straight ${straight}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("image lists: unreadable and missing images, labels out of range, skipping", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeListDataset(dir);
    await Deno.writeTextFile(join(dir, "img/bad.jpg"), "not an image at all");
    const trainList = join(dir, "Toy_LT_train.txt");
    const good = await Deno.readTextFile(trainList);
    await Deno.writeTextFile(trainList, good + "img/bad.jpg 1\n");
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: dir }),
      (e: Error) =>
        e instanceof InputError && e.message.includes(join(dir, "img/bad.jpg")) &&
        e.message.includes("pass `skipBadImages` to skip them"),
    );
    // Skipped images are reported to onWarning; the library prints nothing.
    const warnings: string[] = [];
    const skipped = await loadDataset({
      dataset: "image-list",
      root: dir,
      skipBadImages: true,
      onWarning: (w) => warnings.push(w),
    });
    assert.deepEqual(skipped.trainCounts, [4, 3, 2, 1]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^skipping 1 unreadable image\(s\) of .*Toy_LT_train\.txt, e\.g\. /);
    skipped.dispose();
    await Deno.writeTextFile(trainList, good + "img/missing.png 0\n");
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: dir }),
      (e: Error) => e instanceof InputError && e.message.includes("img/missing.png"),
    );
    // A JPEG cut short after its header fails when its batch is made.
    {
      using noisy = tensor(makeImages(1, 3, 64), [3, 64, 64]);
      writeImage(noisy, join(dir, "img/noisy.jpg"), 90);
    }
    const bytes = await Deno.readFile(join(dir, "img/noisy.jpg"));
    await Deno.writeFile(
      join(dir, "img/cut.jpg"),
      bytes.subarray(0, Math.floor(bytes.length * 0.8)),
    );
    const set = new FileImageSet([join(dir, "img/cut.jpg")], Int32Array.from([0]), 8);
    using loader = new BatchLoader(set, { mean: [0, 0, 0], std: [1, 1, 1] }, {
      batchSize: 1,
      train: false,
      device: "cpu",
      seed: 0,
    });
    await assert.rejects(
      async () => {
        for await (const b of loader.epoch(0)) b.dispose();
      },
      (e: Error) =>
        e instanceof InputError && /cut\.jpg: premature end of JPEG data/.test(e.message),
    );
    await Deno.writeTextFile(trainList, good);
    await Deno.writeTextFile(join(dir, "Toy_LT_test.txt"), "img/te0.png 4\n");
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: dir }),
      /Toy_LT_test\.txt:1: label 4 outside the class range 0\.\.3/,
    );
    await assert.rejects(
      () => loadDataset({ dataset: "image-list" }),
      /root: image-list needs a folder with train\.txt .*\(or both `trainList` and `testList`\)$/,
    );
    await Deno.remove(join(dir, "Toy_LT_test.txt"));
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: dir }),
      (e: Error) => e instanceof InputError && e.message.includes(join(dir, "test.txt")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("grey images become three equal channels in a batch", async () => {
  const dir = await Deno.makeTempDir();
  try {
    writeFlatImage(join(dir, "g.png"), [51], 20, 12);
    writeFlatImage(join(dir, "g.jpg"), [204], 12, 20);
    const set = new FileImageSet(
      [join(dir, "g.png"), join(dir, "g.jpg")],
      Int32Array.from([0, 1]),
      8,
    );
    const norm = { mean: [0, 0, 0], std: [1, 1, 1] };
    using loader = new BatchLoader(set, norm, {
      batchSize: 2,
      train: true,
      device: "cpu",
      seed: 1,
    });
    for await (const batch of loader.epoch(0)) {
      const v = batch.images.toArray() as Float32Array;
      const order = loader.order(0);
      for (let j = 0; j < 2; j++) {
        const want = order[j] === 0 ? 51 : 204;
        for (let c = 0; c < 3; c++) {
          assert.ok(Math.abs(v[(j * 3 + c) * 64 + 27] * 255 - want) <= 1.01);
        }
      }
      batch.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
