import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import {
  balpoeLoss,
  combineExperts,
  countsToPrior,
  createLoss,
  predictionExperts,
} from "../../lib/losses/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

// 5 samples, 4 classes (the batch of sade_test.ts).
const ROWS = [
  [1.2, -0.3, 0.5, 2.0],
  [0.1, 0.9, -1.1, 0.4],
  [-0.7, 0.2, 1.5, -0.2],
  [2.2, 0.0, -0.4, 0.3],
  [0.3, -1.2, 0.8, 1.1],
];
const LABELS = [3, 1, 0, 0, 3];
const COUNTS = [500, 120, 30, 5];
const PRIOR = countsToPrior(COUNTS);
// Three experts side by side [5, 12]: the rows, negated, and doubled.
const EXPERTS = ROWS.map((r) => [...r, ...r.map((x) => -x), ...r.map((x) => 2 * x)]);

function lse(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}
/** Mean cross-entropy of rows + offset against soft targets [N][C]. */
function softCE(rows: number[][], targets: number[][], offset: number[] = [0, 0, 0, 0]): number {
  return rows.reduce((s, r, i) => {
    const z = r.map((x, c) => x + offset[c]);
    const l = lse(z);
    return s + targets[i].reduce((a, t, c) => a + t * (l - z[c]), 0);
  }, 0) / rows.length;
}
const oneHot = (ys: number[]) => ys.map((y) => [0, 1, 2, 3].map((c) => (c === y ? 1 : 0)));
const logits = (rows: number[][]) => tensor(rows.flat(), [rows.length, rows[0].length], "float64");
const labelsOf = (ys: number[]) => tensor(BigInt64Array.from(ys.map(BigInt)), [ys.length]);
const value = (fn: () => Tensor) => scope(() => fn().item());
function close(actual: number, expected: number, tol = 1e-12, msg = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} ${actual} vs ${expected}`);
}

Deno.test("BalPoE's loss: the experts' mean of CE(f_e + lambda_e log(p_s + 1e-9))", () => {
  const live = liveTensors();
  const logPrior = PRIOR.map((p) => Math.log(p + 1e-9));
  const expert = (e: number) => EXPERTS.map((r) => r.slice(4 * e, 4 * e + 4));
  for (const lambdas of [[0, 1, 2], [-1, 1, 3], [0, 1.25, 2.5]]) {
    const want = lambdas.reduce(
      (s, l, e) => s + softCE(expert(e), oneHot(LABELS), logPrior.map((x) => l * x)),
      0,
    ) / 3;
    close(
      value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR, lambdas)),
      want,
      1e-12,
      `lambdas ${lambdas}`,
    );
    // The registry's loss is the same, its lambdas given by name.
    using loss = createLoss("balpoe", { trainCounts: COUNTS, expertLambdas: lambdas });
    close(
      value(() => loss(logits(EXPERTS), labelsOf(LABELS), { epoch: 0, epochs: 1 })),
      want,
      1e-6,
    );
  }
  // Default lambdas 0, 1, 2: expert 1 plain softmax, expert 2 balanced softmax.
  close(
    value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR)),
    value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR, [0, 1, 2])),
  );
  assert.equal(liveTensors(), live);
});

Deno.test("BalPoE's lambdas: one per expert of the network, finite", () => {
  assert.throws(
    () => createLoss("balpoe", { trainCounts: COUNTS, expertLambdas: [0, 1] }),
    (e: unknown) => e instanceof InputError && e.parameter === "expertLambdas",
  );
  assert.throws(
    () => value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR, [0, NaN, 2])),
    (e: unknown) => e instanceof InputError && e.parameter === "expertLambdas",
  );
  // Logits of another width than the lambdas' experts.
  assert.throws(
    () => value(() => balpoeLoss(logits(ROWS), labelsOf(LABELS), PRIOR, [0, 1, 2])),
    (e: unknown) => e instanceof InputError && e.parameter === "logits",
  );
});

Deno.test("a product of experts predicts with the experts' mean; SADE keeps every expert", () => {
  assert.equal(predictionExperts("balpoe"), 1);
  assert.equal(predictionExperts("sade"), 3);
  assert.equal(predictionExperts("lade"), 1);
  const got = scope(() => combineExperts(logits(EXPERTS), "balpoe").toArray() as Float64Array);
  // (r - r + 2r) / 3 = 2r / 3.
  ROWS.flat().forEach((x, i) => close(got[i], (2 * x) / 3, 1e-12));
  const same = scope(() => combineExperts(logits(EXPERTS), "sade").toArray() as Float64Array);
  assert.deepEqual(Array.from(same), EXPERTS.flat());
});
