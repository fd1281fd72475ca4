import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { rankClasses, shiftedCounts, shiftIndices } from "../../lib/data/shift.ts";
import { indicesForCounts, shiftSetsFromJson } from "../../lib/data/shift_file.ts";

const TRAIN = [400, 150, 60, 30, 12, 5];
const labels = Int32Array.from({ length: 6 * 40 }, (_, i) => (i * 7) % 6);

Deno.test("shift files: counts, flat and per-class indices give the built-in forwardR/backwardR sets", () => {
  for (const name of ["forward50", "forward10", "uniform", "backward5", "backward50"]) {
    const builtIn = shiftIndices(labels, TRAIN, name);
    const counts = shiftedCounts(TRAIN, 40, name);
    const perClass = TRAIN.map((_, c) => [...builtIn].filter((i) => labels[i] === c));
    const forms: unknown[] = [
      counts,
      { name, counts },
      { shift: name, indices: [...builtIn].reverse() },
      { name, indices: perClass },
      [{ shift: name, counts, results: {} }],
      { sets: [{ name, counts }] },
    ];
    for (const form of forms) {
      const sets = shiftSetsFromJson(form, labels, 6, `/x/${name}.json`);
      assert.equal(sets.length, 1);
      assert.equal(sets[0].name, name);
      assert.deepEqual(sets[0].indices, builtIn, JSON.stringify(form).slice(0, 60));
    }
  }
  // Several sets at once; the first n_c of a class in file order.
  const two = shiftSetsFromJson(
    [{ name: "a", counts: [1, 0, 0, 0, 0, 2] }, { name: "b", counts: [0, 0, 0, 0, 0, 1] }],
    labels,
    6,
    "f.json",
  );
  const firstOf = (c: number, n: number) =>
    [...labels.keys()].filter((i) => labels[i] === c).slice(0, n);
  assert.deepEqual([...two[0].indices], [...firstOf(0, 1), ...firstOf(5, 2)].sort((x, y) => x - y));
  assert.deepEqual([...two[1].indices], firstOf(5, 1));
});

Deno.test("ties in the class ranking: the built-in sets rank ties by class index; a file sets any order", () => {
  const tied = [50, 20, 20, 5];
  assert.deepEqual(rankClasses(tied), [0, 1, 2, 3]);
  const builtIn = shiftedCounts(tied, 10, "forward10");
  // 10 * (1/10)^(k/3): 10, 4, 2, 1 by rank; class 1 (the lower index) ranks before class 2.
  assert.deepEqual(builtIn, [10, 4, 2, 1]);
  // Another code base that ranked class 2 first: its counts, given as a file, are used as they are.
  const other = [10, 2, 4, 1];
  const l4 = Int32Array.from({ length: 40 }, (_, i) => i % 4);
  const [set] = shiftSetsFromJson({ name: "theirs", counts: other }, l4, 4, "t.json");
  const got = [0, 0, 0, 0];
  for (const i of set.indices) got[l4[i]]++;
  assert.deepEqual(got, other);
});

Deno.test("shift files: one-line errors for bad counts, indices, names", () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2, 3], /counts must be 6 non-negative integers/],
    [{ counts: [41, 0, 0, 0, 0, 0] }, /class 0 asks for 41 test samples but the test split has 40/],
    [{ indices: [0, 0] }, /test sample 0 is listed twice/],
    [{ indices: [240] }, /index 240 outside the test split/],
    [
      { indices: [[1], [], [], [], [], []] },
      /test sample 1 has label 1 but is listed under class 0/,
    ],
    [{ indices: [[0], []] }, /2 per-class index lists for 6 classes/],
    [{ name: "x" }, /needs "counts" \(one per class\) or "indices"/],
    [
      [{ name: "a", counts: [1, 0, 0, 0, 0, 0] }, { name: "a", counts: [1, 0, 0, 0, 0, 0] }],
      /two sets are named 'a'/,
    ],
    [{ counts: [0, 0, 0, 0, 0, 0] }, /the set is empty/],
    ["forward10", /expected per-class counts/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => shiftSetsFromJson(value, labels, 6, "f.json"), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  }
  assert.throws(() => indicesForCounts(labels, [50, 0, 0, 0, 0, 0], "w"), /asks for 50/);
});
