import assert from "node:assert/strict";
import { shotGroups } from "../../lib/data/shots.ts";
import { accuracy, computeMetrics } from "../../lib/eval/metrics.ts";
import { tensor } from "../../lib/torch/create.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

// Four classes: 0 and 1 many-shot (200, 150 training images), 2 medium (50), 3 few (5).
const TRAIN_COUNTS = [200, 150, 50, 5];
const LABELS = [0, 0, 0, 0, 1, 2, 2, 3, 3, 3];
// The prediction of each sample (its row's argmax).
const PREDICTED = [0, 0, 0, 2, 0, 2, 1, 3, 3, 3];

function logitsOf(predicted: readonly number[], classes: number): Tensor {
  const rows = predicted.map((p) => Array.from({ length: classes }, (_, c) => (c === p ? 2 : 0)));
  return tensor(new Float32Array(rows.flat()), [predicted.length, classes]);
}

Deno.test("many/medium/few are the mean of per-class accuracies, not pooled samples", () => {
  using logits = logitsOf(PREDICTED, 4);
  const a = accuracy(logits, Int32Array.from(LABELS), shotGroups(TRAIN_COUNTS));
  // By hand: class 0 has 3 of 4 right (75%), class 1 0 of 1 (0%), class 2 1 of 2 (50%),
  // class 3 3 of 3 (100%); 7 of 10 overall.
  assert.equal(a.top1, 70);
  assert.deepEqual(a.perClass, [75, 0, 50, 100]);
  // Many: (75 + 0) / 2 = 37.5. Pooling the samples would give 3 of 5 = 60.
  assert.equal(a.many, 37.5);
  assert.equal(a.medium, 50);
  assert.equal(a.few, 100);
});

Deno.test("a shot group with no classes, or no test samples, is null", () => {
  using logits = logitsOf(PREDICTED, 4);
  // No class has more than 100 training images.
  const none = accuracy(logits, LABELS, shotGroups([50, 50, 50, 5]));
  assert.equal(none.many, null);
  assert.equal(none.medium, (75 + 0 + 50) / 3);
  // Class 1 has no test sample: it does not count towards its group's mean.
  using fewer = logitsOf([0, 0, 0, 2], 4);
  const partial = accuracy(fewer, [0, 0, 0, 0], shotGroups(TRAIN_COUNTS));
  assert.deepEqual(partial.perClass, [75, null, null, null]);
  assert.equal(partial.many, 75);
  assert.equal(partial.medium, null);
});

Deno.test("evaluation's metrics report the same accuracies", () => {
  using logits = logitsOf(PREDICTED, 4);
  const groups = shotGroups(TRAIN_COUNTS);
  const a = accuracy(logits, Int32Array.from(LABELS), groups);
  const m = computeMetrics(logits, Int32Array.from(LABELS), groups);
  assert.deepEqual(
    { top1: m.top1, many: m.many, medium: m.medium, few: m.few, perClass: m.perClass },
    a,
  );
});
