import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import {
  parseShift,
  rankClasses,
  SHIFT_GRID,
  shiftedCounts,
  shiftIndices,
} from "../../lib/data/shift.ts";
import { shotGroups } from "../../lib/data/shots.ts";
import { longTailCounts } from "../../lib/data/long_tail.ts";

const fashionLT = longTailCounts(6000, 10, 100);

Deno.test("forward10 on Fashion-MNIST-LT's test set", () => {
  assert.deepEqual(
    shiftedCounts(fashionLT, 1000, "forward10"),
    [1000, 774, 599, 464, 359, 278, 215, 166, 129, 100],
  );
});

Deno.test("backward reverses the order; uniform keeps m; R = 1 is uniform", () => {
  assert.deepEqual(
    shiftedCounts(fashionLT, 1000, "backward10"),
    [100, 129, 166, 215, 278, 359, 464, 599, 774, 1000],
  );
  assert.deepEqual(shiftedCounts(fashionLT, 1000, "uniform"), new Array(10).fill(1000));
  assert.deepEqual(shiftedCounts(fashionLT, 50, "forward1"), new Array(10).fill(50));
  // 3 classes, m = 100, forward 4: ranks get 100, 100 / 2, 100 / 4.
  assert.deepEqual(shiftedCounts([10, 30, 20], 100, "forward4"), [25, 100, 50]);
  assert.deepEqual(shiftedCounts([10, 30, 20], 100, "backward-4"), [100, 25, 50]);
});

Deno.test("ranking: most frequent first, ties by class index", () => {
  assert.deepEqual(rankClasses([5, 9, 5, 9, 1]), [1, 3, 0, 2, 4]);
});

Deno.test("parseShift names and errors", () => {
  assert.deepEqual(parseShift("forward-10"), { kind: "forward", ratio: 10, name: "forward10" });
  assert.deepEqual(parseShift("backward2.5"), {
    kind: "backward",
    ratio: 2.5,
    name: "backward2.5",
  });
  assert.equal(parseShift("uniform").kind, "uniform");
  for (const bad of ["forward", "sideways10", "forward0.5", "backward-", ""]) {
    assert.throws(() => parseShift(bad), InputError, bad);
  }
  assert.equal(SHIFT_GRID.length, 11);
  for (const name of SHIFT_GRID) parseShift(name);
});

Deno.test("shiftIndices keeps the first n_c test samples of each class in file order", () => {
  // 3 classes, 4 test samples each, interleaved 0 1 2 0 1 2 ...
  const labels = Int32Array.from({ length: 12 }, (_, i) => i % 3);
  // Training counts rank class 2 first, then 0, then 1. forward4: 4, 2, 1.
  const picked = shiftIndices(labels, [50, 10, 90], "forward4");
  // class 2 keeps all 4 (2, 5, 8, 11); class 0 its first 2 (0, 3); class 1 its first (1).
  assert.deepEqual(Array.from(picked), [0, 1, 2, 3, 5, 8, 11]);
  assert.throws(() => shiftIndices(Int32Array.from([0, 3]), [1, 1], "uniform"), InputError);
});

Deno.test("shot groups: many > 100, medium 20..100, few < 20", () => {
  assert.deepEqual(shotGroups([101, 100, 20, 19, 0, 5000]), {
    many: [0, 5],
    medium: [1, 2],
    few: [3, 4],
  });
  assert.deepEqual(shotGroups(fashionLT), {
    many: [0, 1, 2, 3, 4, 5, 6, 7],
    medium: [8, 9],
    few: [],
  });
});
