import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { loadDataset } from "../../lib/data/datasets.ts";
import type { TensorImageSet } from "../../lib/data/image_set.ts";
import { longTailCounts } from "../../lib/data/long_tail.ts";
import { holdOutPerClass } from "../../lib/data/validation.ts";
import { writeFlatImage, writeIdxDataset } from "./fixtures.ts";

Deno.test("holding out K per class: disjoint, ascending, seeded, a fraction, never a whole class", () => {
  const labels = Int32Array.from({ length: 120 }, (_, i) => i % 4);
  const a = holdOutPerClass(labels, 4, 5, 0);
  assert.equal(a.val.length, 20);
  assert.equal(a.rest.length, 100);
  const perClass = [0, 0, 0, 0];
  for (const i of a.val) perClass[labels[i]]++;
  assert.deepEqual(perClass, [5, 5, 5, 5]);
  const all = new Set([...a.val, ...a.rest]);
  assert.equal(all.size, 120, "val and rest are disjoint and cover every sample");
  assert.deepEqual([...a.val], [...a.val].sort((x, y) => x - y));
  assert.deepEqual(holdOutPerClass(labels, 4, 5, 0), a, "the same seed holds out the same images");
  assert.notDeepEqual(holdOutPerClass(labels, 4, 5, 1).val, a.val);
  // A fraction: floor(0.25 * 30) = 7 of each class.
  assert.equal(holdOutPerClass(labels, 4, 0.25, 0).val.length, 28);
  assert.throws(() => holdOutPerClass(labels, 4, 30, 0), /class 0 has 30 training image\(s\)/);
  for (const bad of [0, -1, 2.5, 1.5, NaN]) {
    assert.throws(() => holdOutPerClass(labels, 4, bad, 0), InputError, String(bad));
  }
});

Deno.test("a validation split is held out before the long tail, with the full split's n_max", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 10 classes of 40 training images each (labels i % 10), 10 test images.
    await writeIdxDataset(dir, 400, 100);
    const plain = await loadDataset({ dataset: "mnist-lt", root: dir, imbalance: 10, seed: 3 });
    const held = await loadDataset({
      dataset: "mnist-lt",
      root: dir,
      imbalance: 10,
      seed: 3,
      valPerClass: 4,
    });
    try {
      assert.equal(plain.val, undefined);
      const wanted = longTailCounts(40, 10, 10);
      assert.deepEqual(plain.trainCounts, wanted);
      // Only the head class (40 of 40 wanted, 36 left) loses its K.
      assert.deepEqual(held.trainCounts, wanted.map((n) => Math.min(n, 36)));
      assert.deepEqual(held.valCounts, new Array(10).fill(4));
      assert.match(held.valSource!, /4 per class held out/);
      const train = held.train as TensorImageSet, val = held.val as TensorImageSet;
      const inTrain = new Set(train.indices);
      assert.ok([...val.indices].every((i) => !inTrain.has(i)), "never trained on");
      assert.equal(held.test.size, plain.test.size);
      // Seeded: the same seed gives the same split.
      const again = await loadDataset({
        dataset: "mnist-lt",
        root: dir,
        imbalance: 10,
        seed: 3,
        valPerClass: 4,
      });
      assert.deepEqual((again.val as TensorImageSet).indices, val.indices);
      assert.deepEqual((again.train as TensorImageSet).indices, train.indices);
      again.dispose();
    } finally {
      plain.dispose();
      held.dispose();
    }
    await assert.rejects(
      () => loadDataset({ dataset: "mnist", root: dir, valPerClass: 40 }),
      /holding out 40 would leave none/,
    );
    await assert.rejects(
      () => loadDataset({ dataset: "mnist", root: dir, valList: "v.txt" }),
      /needs the image-list dataset/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("image lists: a validation list (ImageNet-LT's val.txt) is the validation split", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lines = (names: string[]) => names.map((n, i) => `${n} ${i % 2}`).join("\n") + "\n";
    for (const n of ["a", "b", "c", "d", "e", "f"]) {
      writeFlatImage(join(dir, `${n}.png`), [9, 9, 9], 8, 8);
    }
    await Deno.writeTextFile(join(dir, "X_train.txt"), lines(["a.png", "b.png", "c.png", "d.png"]));
    await Deno.writeTextFile(join(dir, "X_test.txt"), lines(["e.png", "f.png"]));
    await Deno.writeTextFile(join(dir, "X_val.txt"), lines(["e.png", "f.png"]));
    const d = await loadDataset({
      dataset: "image-list",
      root: dir,
      valList: join(dir, "X_val.txt"),
      imageSize: 8,
    });
    assert.equal(d.val!.size, 2);
    assert.deepEqual(d.valCounts, [1, 1]);
    assert.deepEqual(d.trainCounts, [2, 2]);
    assert.equal(d.valSource, join(dir, "X_val.txt"));
    d.dispose();
    await assert.rejects(
      () => loadDataset({ dataset: "image-list", root: dir, valList: "v.txt", valPerClass: 1 }),
      /either `valPerClass` or `valList`/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
