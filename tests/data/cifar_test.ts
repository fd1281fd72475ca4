import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { loadDataset } from "../../lib/data/datasets.ts";
import type { TensorImageSet } from "../../lib/data/image_set.ts";
import { cifarRecords, pixel } from "./fixtures.ts";

function checkPixels(set: TensorImageSet): void {
  using px = set.pixels();
  assert.deepEqual(px.shape, [set.size, 3, 32, 32]);
  const data = px.toArray() as Uint8Array;
  for (let k = 0; k < set.size; k++) {
    const i = set.indices[k];
    for (const [c, y, x] of [[0, 0, 0], [1, 5, 31], [2, 31, 7], [2, 17, 17]]) {
      assert.equal(data[((k * 3 + c) * 32 + y) * 32 + x], pixel(i, c, y, x), `${i} ${c} ${y} ${x}`);
    }
  }
}

Deno.test("CIFAR-10 binary batches read back exactly (5 training files, test_batch)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 4 records per training file, labels i % 10 over all 20; 6 test records.
    for (let f = 1; f <= 5; f++) {
      await Deno.writeFile(
        join(dir, `data_batch_${f}.bin`),
        cifarRecords(4, 1, (i) => [i % 10], (f - 1) * 4),
      );
    }
    await Deno.writeFile(join(dir, "test_batch.bin"), cifarRecords(6, 1, (i) => [9 - i]));
    // The parent folder works too (cifar-10-batches-bin inside it).
    const parent = await Deno.makeTempDir();
    await Deno.rename(dir, join(parent, "cifar-10-batches-bin"));
    const splits = await loadDataset({ dataset: "cifar10", root: parent });
    try {
      assert.equal(splits.train.size, 20);
      assert.equal(splits.test.size, 6);
      assert.equal(splits.classNames[0], "airplane");
      assert.deepEqual(
        Array.from(splits.train.labels),
        Array.from({ length: 20 }, (_, i) => i % 10),
      );
      assert.deepEqual(Array.from(splits.test.labels), [9, 8, 7, 6, 5, 4]);
      assert.deepEqual(splits.trainCounts, new Array(10).fill(2));
      checkPixels(splits.train as TensorImageSet);
      checkPixels(splits.test as TensorImageSet);
    } finally {
      splits.dispose();
      await Deno.remove(parent, { recursive: true });
    }
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
});

Deno.test("CIFAR-100 train.bin/test.bin: fine labels, long tail with R = 100", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 100 classes x 10 records; coarse label = fine % 20.
    const fine = (i: number) => i % 100;
    await Deno.writeFile(
      join(dir, "train.bin"),
      cifarRecords(1000, 2, (i) => [fine(i) % 20, fine(i)]),
    );
    await Deno.writeFile(
      join(dir, "test.bin"),
      cifarRecords(200, 2, (i) => [fine(i) % 20, fine(i)]),
    );
    const splits = await loadDataset({ dataset: "cifar100-lt", root: dir, seed: 3 });
    try {
      assert.equal(splits.classes, 100);
      assert.equal(splits.classNames[99], "worm");
      const want = Array.from({ length: 100 }, (_, c) => Math.floor(10 * Math.pow(0.01, c / 99)));
      assert.deepEqual(splits.trainCounts, want);
      assert.deepEqual(splits.testCounts, new Array(100).fill(2));
      checkPixels(splits.train as TensorImageSet);
      checkPixels(splits.test as TensorImageSet);
    } finally {
      splits.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CIFAR: truncated file, label out of range, missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      join(dir, "train.bin"),
      cifarRecords(3, 2, () => [1, 2]).subarray(0, 3 * 3074 - 10),
    );
    await Deno.writeFile(join(dir, "test.bin"), cifarRecords(3, 2, () => [1, 2]));
    await assert.rejects(
      () => loadDataset({ dataset: "cifar100", root: dir }),
      (e: Error) =>
        e instanceof InputError && e.message.includes("train.bin") &&
        e.message.includes("not a whole number of 3074-byte records"),
    );
    await Deno.writeFile(join(dir, "train.bin"), cifarRecords(3, 2, (i) => [1, i === 2 ? 100 : 5]));
    await assert.rejects(
      () => loadDataset({ dataset: "cifar100", root: dir }),
      /train\.bin: label 100 of record 2 outside the class range 0\.\.99/,
    );
    await Deno.writeFile(join(dir, "train.bin"), cifarRecords(3, 2, () => [20, 5]));
    await assert.rejects(() => loadDataset({ dataset: "cifar100", root: dir }), /coarse label 20/);
    await assert.rejects(
      () => loadDataset({ dataset: "cifar10", root: dir }),
      (e: Error) =>
        e instanceof InputError && e.message.includes("data_batch_1.bin") &&
        e.message.includes("cifar-10-binary.tar.gz"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
