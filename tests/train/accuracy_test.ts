import assert from "node:assert/strict";
import { accuracy, perClassCorrect } from "../../lib/train/accuracy.ts";
import { tensor } from "../../lib/torch/create.ts";

Deno.test("top-1 overall and by shot group, counted by hand", () => {
  // 3 classes: class 0 many (200 training images), 1 medium (50), 2 few (5).
  const trainCounts = [200, 50, 5];
  // Predictions (argmax of each row): 0, 0, 1, 2, 2, 1.
  using logits = tensor(
    new Float32Array([
      [3, 1, 0],
      [2, 1, 1],
      [0, 5, 1],
      [0, 1, 4],
      [1, 0, 2],
      [0, 2, 1],
    ].flat()),
    [6, 3],
  );
  const labels = Int32Array.from([0, 1, 1, 2, 2, 2]);
  // Correct: sample 0 (class 0), 2 (class 1), 3 and 4 (class 2).
  assert.deepEqual(perClassCorrect(logits, labels), { correct: [1, 1, 2], total: [1, 2, 3] });
  const a = accuracy(logits, labels, trainCounts);
  assert.equal(a.top1, (100 * 4) / 6);
  assert.equal(a.many, 100);
  assert.equal(a.medium, 50);
  assert.equal(a.few, (100 * 2) / 3);
  // No class with more than 100 images: the group is empty.
  assert.ok(Number.isNaN(accuracy(logits, labels, [50, 50, 5]).many));
});
