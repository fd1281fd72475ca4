/**
 * Streams: the schedules' coefficients by their definitions, the named
 * marginals, marginals files (and their one-line errors), and the sampler
 * (labels follow q_t, images dealt without repetition until a class runs
 * out, reuse counted, reproducible by seed).
 */

import assert from "node:assert/strict";
import {
  endpointPrior,
  parseMarginals,
  readMarginalsFile,
  sampleStream,
  scheduleCoefficients,
  scheduleMarginals,
} from "../../lib/online/mod.ts";
import { InputError } from "../../lib/errors.ts";

Deno.test("schedules: monotone t/T, square and sinusoidal of period P, Bernoulli flips", () => {
  assert.deepEqual(scheduleCoefficients("monotone", { rounds: 4 }), [0, 0.25, 0.5, 0.75]);
  assert.deepEqual(scheduleCoefficients("square", { rounds: 7, period: 2 }), [0, 0, 1, 1, 0, 0, 1]);
  // The default period is floor(sqrt(T)): 3 for T = 10.
  assert.deepEqual(scheduleCoefficients("square", { rounds: 10 }), [0, 0, 0, 1, 1, 1, 0, 0, 0, 1]);
  const sin = scheduleCoefficients("sinusoidal", { rounds: 5, period: 4 });
  const want = [0, Math.SQRT1_2, 1, Math.SQRT1_2, 0];
  sin.forEach((v, t) => assert.ok(Math.abs(v - want[t]) < 1e-12, `sinusoidal ${t}`));
  // p = 0 never flips; p = 1 flips after every round.
  assert.deepEqual(scheduleCoefficients("bernoulli", { rounds: 4, flipProbability: 0 }), [
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual(scheduleCoefficients("bernoulli", { rounds: 4, flipProbability: 1 }), [
    0,
    1,
    0,
    1,
  ]);
  // A seed gives the same flips; the values are 0 or 1 and start at 0.
  const a = scheduleCoefficients("bernoulli", { rounds: 200, seed: 3 });
  assert.deepEqual(a, scheduleCoefficients("bernoulli", { rounds: 200, seed: 3 }));
  assert.ok(a[0] === 0 && a.every((v) => v === 0 || v === 1) && a.includes(1));
  const q = scheduleMarginals("monotone", [1, 0], [0.2, 0.8], { rounds: 2 });
  assert.deepEqual(q, [[1, 0], [0.6, 0.4]]);
});

Deno.test("schedules refuse zero rounds and bad periods", () => {
  assert.throws(
    () => scheduleCoefficients("monotone", { rounds: 0 }),
    /rounds: must be a positive integer, got 0/,
  );
  assert.throws(() => scheduleCoefficients("square", { rounds: 5, period: 0 }), /period/);
  assert.throws(
    () => scheduleCoefficients("bernoulli", { rounds: 5, flipProbability: 2 }),
    /flipProbability/,
  );
  assert.throws(
    () => scheduleMarginals("monotone", [0.5, 0.6], [0.5, 0.5], { rounds: 2 }),
    InputError,
  );
});

Deno.test("endpoints: uniform, the training prior, reversed by rank, one-hot", () => {
  const counts = [60, 30, 10];
  assert.deepEqual(endpointPrior("uniform", counts), [1 / 3, 1 / 3, 1 / 3]);
  assert.deepEqual(endpointPrior("train", counts), [0.6, 0.3, 0.1]);
  assert.deepEqual(endpointPrior("reversed", counts), [0.1, 0.3, 0.6]);
  assert.deepEqual(endpointPrior("onehot:2", counts), [0, 0, 1]);
  assert.throws(() => endpointPrior("onehot:3", counts), /outside 0..2/);
  assert.throws(() => endpointPrior("skewed", counts, "to"), /to: unknown marginal 'skewed'/);
});

Deno.test("marginals files: CSV with a header and comments, JSON, and their errors", async () => {
  assert.deepEqual(
    parseMarginals("# my stream\np0,p1\n0.25, 0.75\n1 0\n", "q.csv", 2),
    [[0.25, 0.75], [1, 0]],
  );
  assert.deepEqual(parseMarginals("[[0.5, 0.5], [0.1, 0.9]]", "q.json", 2), [[0.5, 0.5], [
    0.1,
    0.9,
  ]]);
  assert.deepEqual(parseMarginals('{"marginals": [[0.3, 0.7]]}', "q.json", 2), [[0.3, 0.7]]);
  assert.throws(
    () => parseMarginals("0.5,0.5\n0.5,0.4\n", "q.csv", 2),
    /q.csv: row 2: sums to 0.9, not 1/,
  );
  assert.throws(
    () => parseMarginals("[[0.2, 0.3, 0.5]]", "q.json", 2),
    /q.json: row 1: has 3 values but the model has 2 classes/,
  );
  assert.throws(() => parseMarginals("0.5,x\n", "q.csv", 2), /line 1 is not a row of numbers/);
  assert.throws(() => parseMarginals("[[-0.5, 1.5]]", "q.json", 2), /not a probability/);
  assert.throws(() => parseMarginals("", "q.csv", 2), /no rows/);
  assert.throws(() => parseMarginals("{", "q.json", 2), /not valid JSON/);
  await assert.rejects(
    () => readMarginalsFile("/nonexistent/q.csv", 2),
    /cannot read \/nonexistent\/q.csv/,
  );
});

Deno.test("the stream draws labels from q_t and deals each class's images without repeats", () => {
  // Class 0: indices 0..3, class 1: 4..9.
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  const s = sampleStream(labels, [[1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], 2, 5);
  assert.deepEqual(Array.from(s.labels), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  // Four class-0 draws use each class-0 image once; six class-1 draws each class-1 image once.
  assert.deepEqual([...s.indices.slice(0, 4)].sort(), [0, 1, 2, 3]);
  assert.deepEqual([...s.indices.slice(4)].sort(), [4, 5, 6, 7, 8, 9]);
  assert.equal(s.reused, 0);
  assert.deepEqual(s.exhausted, []);
  assert.deepEqual(sampleStream(labels, s.marginals, 2, 5).indices, s.indices);
  assert.notDeepEqual(
    Array.from(sampleStream(labels, s.marginals, 2, 6).indices),
    Array.from(s.indices),
  );
});

Deno.test("a class that runs out is dealt again, and the stream says so", () => {
  const labels = Int32Array.from([0, 0, 1, 1, 1]);
  const s = sampleStream(labels, [[1, 0], [1, 0], [1, 0]], 2, 0);
  // Six class-0 draws from two images: the first two fresh, four reused.
  assert.equal(s.reused, 4);
  assert.deepEqual(s.exhausted, [{ label: 0, round: 1, images: 2 }]);
  assert.ok(Array.from(s.indices).every((i) => i === 0 || i === 1));
});

Deno.test("the stream's label frequencies follow q", () => {
  const labels = Int32Array.from({ length: 3000 }, (_, i) => i % 3);
  const q = [0.6, 0.3, 0.1];
  const s = sampleStream(labels, Array.from({ length: 200 }, () => q), 10, 1);
  const freq = [0, 0, 0];
  for (const y of s.labels) freq[y] += 1 / s.labels.length;
  // 2000 draws: a standard error below 0.011.
  freq.forEach((f, c) => assert.ok(Math.abs(f - q[c]) < 0.04, `class ${c}: ${f}`));
});

Deno.test("the stream refuses a class with probability but no image, and bad sizes", () => {
  const labels = Int32Array.from([0, 0]);
  assert.throws(
    () => sampleStream(labels, [[0.5, 0.5]], 1),
    /class 1 probability 0.5 but the test split has no image/,
  );
  assert.throws(
    () => sampleStream(labels, [[1, 0]], 0),
    /perRound: must be a positive integer, got 0/,
  );
  assert.throws(() => sampleStream(labels, [], 1), /rounds/);
});
