/**
 * Each online estimator on a case computed by hand: two classes, posteriors
 * calibrated to the uniform prior, three rounds of two samples:
 * - round 0: (0.9, 0.1) and (0.2, 0.8). MLLS: q solves
 *   0.9 / (0.1 + 0.8 q) + 0.2 / (0.8 - 0.6 q) = 2, i.e.
 *   0.96 q^2 - 1.54 q + 0.58 = 0, whose root in (0, 1) is 1.16 / 1.92.
 * - round 1: (0.9, 0.1) twice. MLLS: the odds of class 0 grow nine-fold an
 *   iteration, q -> 1.
 * - round 2: (0.5, 0.5) twice: no information; MLLS stays at its start (0.5).
 * The expected values are worked out below from the definitions, in plain
 * arithmetic, not with the classes under test.
 */

import assert from "node:assert/strict";
import {
  bbseRoundEstimator,
  FlhFtl,
  FollowTheHistory,
  mllsRoundEstimator,
  NoAdaptation,
  OnlineEm,
  Oracle,
  type ProbRows,
  projectToSimplex,
  WindowEm,
} from "../../lib/online/mod.ts";
import { mllsPrior } from "../../lib/online/mlls.ts";
import { liveTensors } from "../../lib/torch/memory.ts";
import { tensor } from "../../lib/torch/create.ts";
import { softConfusion } from "../../lib/online/confusion.ts";

const ROUNDS = [
  [[0.9, 0.1], [0.2, 0.8]],
  [[0.9, 0.1], [0.9, 0.1]],
  [[0.5, 0.5], [0.5, 0.5]],
];
const UNIFORM = [0.5, 0.5];
/** The per-round MLLS estimates of class 0, by hand. */
const MLLS = [1.16 / 1.92, 1, 0.5];
/** Per-round MLLS run to convergence (the default stops at 1e-6 moves). */
const mlls = () => mllsRoundEstimator(UNIFORM, { tolerance: 1e-13, maxIterations: 10000 });

/** The class-0 prior a method gives before round 0 and after each round. */
function trace(method: { prior(): number[] | null; update(p: number[][]): void }): number[] {
  const out = [method.prior()![0]];
  for (const r of ROUNDS) {
    method.update(r);
    out.push(method.prior()![0]);
  }
  return out;
}

function close(actual: number[], expected: number[], tol: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => {
    assert.ok(Math.abs(a - expected[i]) <= tol, `${what}[${i}]: ${a} vs ${expected[i]}`);
  });
}

Deno.test("MLLS per round matches the hand-solved fixed points", () => {
  const est = mlls();
  const got = ROUNDS.map((r) => est({ rows: 2, classes: 2, data: Float64Array.from(r.flat()) })[0]);
  close(got, MLLS, 1e-6, "mlls");
});

Deno.test("none keeps the base prior; the oracle gives each round's q_t", () => {
  close(trace(new NoAdaptation([0.3, 0.7])), [0.3, 0.3, 0.3, 0.3], 0, "none");
  const q = [[0.5, 0.5], [0.8, 0.2], [0.1, 0.9]];
  // Round t predicts with q_t; after the last round it stays on the last.
  close(trace(new Oracle(q)), [0.5, 0.8, 0.1, 0.1], 0, "oracle");
});

Deno.test("FTH averages the per-round estimates", () => {
  const fth = new FollowTheHistory(mlls(), UNIFORM);
  const [a, b, c] = MLLS;
  close(trace(fth), [0.5, a, (a + b) / 2, (a + b + c) / 3], 1e-6, "fth");
});

Deno.test("FLH-FTL: exponential weights on the running-average experts, 1/(t+1) to the newest", () => {
  const alpha = 1;
  const flh = new FlhFtl(mlls(), UNIFORM, { alpha });
  const [e0, e1, e2] = MLLS;
  // Squared loss of two-class distributions: 2 (x - e)^2 in the class-0 share.
  const loss = (x: number, e: number) => 2 * (x - e) ** 2;
  // After round 0: one expert, the first estimate.
  const p1 = e0;
  // After round 1: the old expert (which predicted e0) scored against e1,
  // renormalised (alone: 1), shrunk to 1/2; the new expert (e1 alone) gets 1/2.
  const p2 = 0.5 * ((e0 + e1) / 2) + 0.5 * e1;
  // After round 2: experts predicted (e0+e1)/2 and e1, scored against e2.
  const a = 0.5 * Math.exp(-alpha * loss((e0 + e1) / 2, e2));
  const b = 0.5 * Math.exp(-alpha * loss(e1, e2));
  const w0 = (a / (a + b)) * 2 / 3;
  const w1 = (b / (a + b)) * 2 / 3;
  const p3 = w0 * ((e0 + e1 + e2) / 3) + w1 * ((e1 + e2) / 2) + (1 / 3) * e2;
  close(trace(flh), [0.5, p1, p2, p3], 1e-6, "flh-ftl");
  // By hand: 0.6479 after the third round.
  assert.ok(Math.abs(p3 - 0.6479) < 1e-4, String(p3));
});

Deno.test("em-window: MLLS over the last two rounds' samples together", () => {
  const em = new WindowEm(UNIFORM, { window: 2, tolerance: 1e-10, maxIterations: 5000 });
  // Rounds 0 + 1: 2.7 / (0.1 + 0.8 q) + 0.2 / (0.8 - 0.6 q) = 4, i.e.
  // 1.92 q^2 - 3.78 q + 1.86 = 0: q = 3.72 / 3.84. Rounds 1 + 2:
  // 1.8 / (0.1 + 0.8 q) + 2 = 4: q = 1.
  close(trace(em), [0.5, MLLS[0], 3.72 / 3.84, 1], 1e-5, "em-window");
});

Deno.test("em-online: one EM step of size eta a round", () => {
  const em = new OnlineEm(UNIFORM, { stepSize: 0.5 });
  // Round 0 at q = 0.5: the posteriors are the inputs, mean 0.55: q = 0.525.
  const q1 = 0.5 * 0.5 + 0.5 * 0.55;
  // Round 1: 0.9 re-weighted by q / 0.5 against 0.1 by (1 - q) / 0.5.
  const post = (0.9 * q1) / (0.9 * q1 + 0.1 * (1 - q1));
  const q2 = 0.5 * q1 + 0.5 * post;
  // Round 2: a (0.5, 0.5) posterior re-weighted to q is q itself: no move.
  close(trace(em), [0.5, q1, q2, q2], 1e-12, "em-online");
});

Deno.test("BBSE per round inverts the soft confusion; FTH over it averages, then projects", () => {
  const before = liveTensors();
  // Class 0's samples predict (0.8, 0.2) on average, class 1's (0.3, 0.7):
  // A = [[0.8, 0.3], [0.2, 0.7]], A^-1 = [[1.4, -0.6], [-0.4, 1.6]].
  using probs = tensor([0.9, 0.1, 0.7, 0.3, 0.3, 0.7, 0.3, 0.7], [4, 2], "float64");
  const a = softConfusion(probs, Int32Array.from([0, 0, 1, 1]));
  close(Array.from(a), [0.8, 0.3, 0.2, 0.7], 1e-12, "confusion");
  const bbse = bbseRoundEstimator(a, 2);
  const rows = (r: number[][]): ProbRows => ({
    rows: 2,
    classes: 2,
    data: Float64Array.from(r.flat()),
  });
  // Round means (0.55, 0.45), (0.9, 0.1), (0.5, 0.5).
  close(Array.from(bbse(rows(ROUNDS[0]))), [0.5, 0.5], 1e-12, "round 0");
  close(
    Array.from(bbse(rows(ROUNDS[1]))),
    [1.2, -0.2],
    1e-12,
    "round 1 (unbiased: may leave the simplex)",
  );
  close(Array.from(bbse(rows(ROUNDS[2]))), [0.4, 0.6], 1e-12, "round 2");
  const fth = new FollowTheHistory(bbse, UNIFORM);
  // Averages: 0.5; (0.5 + 1.2) / 2 = 0.85; (0.5 + 1.2 + 0.4) / 3 = 0.7.
  close(trace(fth), [0.5, 0.5, 0.85, 0.7], 1e-12, "fth (bbse)");
  assert.equal(liveTensors(), before + 1); // `probs` until the end of the block
});

Deno.test("the simplex projection is Euclidean: clips and shifts", () => {
  close(projectToSimplex([1.2, -0.2]), [1, 0], 1e-12, "corner");
  close(projectToSimplex([0.5, 0.5]), [0.5, 0.5], 1e-12, "inside");
  // (0.6, 0.6, -0.5): theta = 0.1, giving (0.5, 0.5, 0).
  close(projectToSimplex([0.6, 0.6, -0.5]), [0.5, 0.5, 0], 1e-12, "edge");
});

Deno.test("MLLS over several chunks equals MLLS over their rows together", () => {
  const chunk = (r: number[][]): ProbRows => ({
    rows: r.length,
    classes: 2,
    data: Float64Array.from(r.flat()),
  });
  const split = mllsPrior([chunk(ROUNDS[0]), chunk(ROUNDS[1])], UNIFORM, UNIFORM);
  const whole = mllsPrior([chunk([...ROUNDS[0], ...ROUNDS[1]])], UNIFORM, UNIFORM);
  close(Array.from(split), Array.from(whole), 0, "chunks");
});

Deno.test("estimators refuse probabilities of the wrong class count", () => {
  const fth = new FollowTheHistory(mllsRoundEstimator(UNIFORM), UNIFORM);
  assert.throws(() => fth.update([[0.2, 0.3, 0.5]]), /3 values, expected 2/);
  assert.throws(() => new OnlineEm(UNIFORM, { stepSize: 0 }), /stepSize/);
  assert.throws(() => new WindowEm(UNIFORM, { window: 0 }), /window/);
  assert.throws(() => new Oracle([[0.5, 0.6]]), /sums to 1.1/);
});
