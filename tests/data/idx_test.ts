import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { loadDataset } from "../../lib/data/datasets.ts";
import { parseIdx } from "../../lib/data/idx.ts";
import type { TensorImageSet } from "../../lib/data/image_set.ts";
import { gzip, idxBytes, pixel, writeIdxDataset } from "./fixtures.ts";

function checkPixels(set: TensorImageSet, size: number): void {
  using px = set.pixels();
  assert.deepEqual(px.shape, [set.size, 1, size, size]);
  const data = px.toArray() as Uint8Array;
  for (let k = 0; k < set.size; k++) {
    const i = set.indices[k];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        assert.equal(data[(k * size + y) * size + x], pixel(i, 0, y, x));
      }
    }
  }
}

for (const raw of [false, true]) {
  Deno.test(`IDX ${raw ? "raw" : "gzipped"} files read back exactly`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeIdxDataset(dir, 30, 20, { raw });
      const splits = await loadDataset({ dataset: "fashion-mnist", root: dir });
      try {
        assert.equal(splits.classes, 10);
        assert.equal(splits.classNames[9], "Ankle boot");
        assert.equal(splits.train.size, 30);
        assert.equal(splits.test.size, 20);
        assert.equal(splits.train.imageSize, 28);
        assert.equal(splits.train.channels, 1);
        assert.deepEqual(
          Array.from(splits.train.labels),
          Array.from({ length: 30 }, (_, i) => i % 10),
        );
        assert.deepEqual(splits.trainCounts, new Array(10).fill(3));
        assert.deepEqual(splits.testCounts, new Array(10).fill(2));
        checkPixels(splits.train as TensorImageSet, 28);
        checkPixels(splits.test as TensorImageSet, 28);
      } finally {
        splits.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("long-tailed IDX: per-class counts and the pixels of the kept samples", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 10 classes x 20 images; R = 10: 20 * 10^(-c/9).
    await writeIdxDataset(dir, 200, 10, { size: 8 });
    const splits = await loadDataset({ dataset: "fashion-mnist-lt", root: dir, imbalance: 10 });
    try {
      const want = Array.from({ length: 10 }, (_, c) => Math.floor(20 * Math.pow(0.1, c / 9)));
      assert.deepEqual(splits.trainCounts, want);
      assert.equal(splits.train.size, want.reduce((a, b) => a + b));
      assert.deepEqual(splits.imbalance, { ratio: 10, type: "exp" });
      checkPixels(splits.train as TensorImageSet, 8);
      // The labels of the view match the base labels of its indices (i % 10).
      const t = splits.train as TensorImageSet;
      t.labels.forEach((y, k) => assert.equal(y, t.indices[k] % 10));
    } finally {
      splits.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the default Fashion-MNIST install loads with no configuration", async () => {
  const splits = await loadDataset({ dataset: "fashion-mnist-lt" });
  try {
    assert.deepEqual(splits.trainCounts, [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
    assert.equal(splits.train.size, 14886);
    assert.deepEqual(splits.testCounts, new Array(10).fill(1000));
  } finally {
    splits.dispose();
  }
});

Deno.test("IDX: wrong magic, truncated, extra bytes, bad element type", () => {
  const good = idxBytes([2, 2, 2], new Uint8Array(8));
  assert.deepEqual(parseIdx(good, "x").dims, [2, 2, 2]);
  const magic = good.slice();
  magic[0] = 7;
  assert.throws(() => parseIdx(magic, "a.idx"), /a\.idx is not an IDX file \(wrong magic number\)/);
  assert.throws(() => parseIdx(good.subarray(0, good.length - 1), "b"), /b: truncated IDX file/);
  assert.throws(() => parseIdx(good.subarray(0, 9), "c"), /c: truncated IDX header/);
  const extra = new Uint8Array(good.length + 1);
  extra.set(good);
  assert.throws(() => parseIdx(extra, "d"), /d: corrupted IDX file/);
  const type = good.slice();
  type[2] = 0x0d;
  assert.throws(() => parseIdx(type, "e"), InputError);
});

Deno.test("IDX: missing files, labels out of range, corrupt gzip are InputErrors naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => loadDataset({ dataset: "fashion-mnist", root: dir }),
      (e: Error) =>
        e instanceof InputError &&
        e.message.includes(join(dir, "train-images-idx3-ubyte.gz")) &&
        e.message.includes("pass `root`"),
    );
    await writeIdxDataset(dir, 10, 10, { labels: (i) => (i === 7 ? 10 : 0) });
    await assert.rejects(
      () => loadDataset({ dataset: "fashion-mnist", root: dir }),
      (e: Error) =>
        e instanceof InputError &&
        e.message.includes("label 10 of sample 7 outside the class range 0..9"),
    );
    const gz = await gzip(idxBytes([3], new Uint8Array(3)));
    await Deno.writeFile(join(dir, "train-labels-idx1-ubyte.gz"), gz.subarray(0, gz.length - 6));
    await assert.rejects(
      () => loadDataset({ dataset: "fashion-mnist", root: dir }),
      (e: Error) =>
        e instanceof InputError && /corrupted gzip data in .*train-labels/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unknown dataset names and bad options", async () => {
  // Library messages name the parameter at fault (`parameter` too), never a flag.
  const rejectsFor = (opts: Parameters<typeof loadDataset>[0], parameter: string, re: RegExp) =>
    assert.rejects(() => loadDataset(opts), (e: Error) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.parameter, parameter);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /--/);
      return true;
    });
  await rejectsFor({ dataset: "imagenet" }, "dataset", /^dataset: unknown dataset 'imagenet'/);
  await rejectsFor(
    { dataset: "fashion-mnist", imbalance: 0.5 },
    "imbalance",
    /^imbalance: must be a number >= 1, got 0\.5$/,
  );
  await rejectsFor({ dataset: "fashion-mnist", seed: -1 }, "seed", /^seed: must be a non-negative/);
  await rejectsFor({ dataset: "mnist" }, "root", /^root: mnist needs a folder with/);
});
