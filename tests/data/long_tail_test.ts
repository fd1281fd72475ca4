import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { classCounts, longTailCounts, longTailIndices } from "../../lib/data/long_tail.ts";

Deno.test("exp long tail of Fashion-MNIST with R = 100 (design.md's counts)", () => {
  const counts = longTailCounts(6000, 10, 100, "exp");
  assert.deepEqual(counts, [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
  assert.equal(counts.reduce((a, b) => a + b), 14886);
});

Deno.test("exp long tail of CIFAR-100 with R = 100 sums to 10,847; CIFAR-10 to 12,406", () => {
  const c100 = longTailCounts(500, 100, 100);
  assert.equal(c100[0], 500);
  assert.equal(c100[99], 5);
  assert.equal(c100.reduce((a, b) => a + b), 10847);
  // CIFAR-10-LT R = 100: 5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50 (LDAM's table).
  const c10 = longTailCounts(5000, 10, 100);
  assert.deepEqual(c10, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
  assert.equal(c10.reduce((a, b) => a + b), 12406);
});

Deno.test("any ratio, step type, ratio 1, one class", () => {
  // R = 10 over 3 classes: 100, 100 * 10^-0.5 = 31.6, 10.
  assert.deepEqual(longTailCounts(100, 3, 10), [100, 31, 10]);
  assert.deepEqual(longTailCounts(100, 4, 10, "step"), [100, 100, 10, 10]);
  assert.deepEqual(longTailCounts(100, 5, 3, "step"), [100, 100, 33, 33, 33]);
  assert.deepEqual(longTailCounts(7, 3, 1), [7, 7, 7]);
  assert.deepEqual(longTailCounts(7, 1, 50), [7]);
  assert.throws(() => longTailCounts(100, 10, 0.5), InputError);
  assert.throws(() => longTailCounts(100, 10, NaN), InputError);
  assert.throws(() => longTailCounts(100, 0, 10), InputError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => longTailCounts(100, 10, 10, "linear" as any), InputError);
});

Deno.test("seeded selection keeps n_c of each class, in file order, reproducibly", () => {
  const labels = Int32Array.from({ length: 300 }, (_, i) => i % 3);
  const a = longTailIndices(labels, [100, 20, 3], 7);
  const b = longTailIndices(labels, [100, 20, 3], 7);
  const c = longTailIndices(labels, [100, 20, 3], 8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a.length, 123);
  for (let i = 1; i < a.length; i++) assert.ok(a[i] > a[i - 1]);
  const picked = Int32Array.from(a, (i) => labels[i]);
  assert.deepEqual(classCounts(picked, 3), [100, 20, 3]);
  // A class with fewer samples than asked keeps them all.
  assert.equal(longTailIndices(labels, [500, 0, 0], 1).length, 100);
});
