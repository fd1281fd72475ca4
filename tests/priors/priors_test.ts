import assert from "node:assert/strict";
import { tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import {
  bbsePrior,
  confusionMatrix,
  emPrior,
  estimateTargetPrior,
  klDivergence,
  l1Distance,
  solveLinear,
  sourcePrior,
} from "../../lib/priors/mod.ts";
import { InputError } from "../../lib/errors.ts";
import { gaussianSamples } from "./gaussian_fixture.ts";

const MEANS = [0, 2.5, 5, 7.5, 10];
const SOURCE = sourcePrior([500, 250, 120, 60, 30]);
const TARGET = [0.05, 0.1, 0.15, 0.3, 0.4];

/**
 * `n` one-dimensional samples x = mu_y + N(0, 1) with labels in proportions
 * `prior` (exact counts), and their exact posteriors under `calibratedTo`.
 */
function synthetic(n: number, prior: number[], calibratedTo: number[], seed: number) {
  const { labels, logLik, truth } = gaussianSamples(n, prior, MEANS, seed);
  const probs = scope(() =>
    logLik.add(tensor(calibratedTo.map(Math.log), [1, MEANS.length], "float64")).softmax(1)
  );
  logLik.dispose();
  return { probs, labels, truth };
}

Deno.test("sourcePrior, L1 and KL by hand", () => {
  assert.deepEqual(sourcePrior([3, 1]), [0.75, 0.25]);
  assert.ok(Math.abs(l1Distance([0.5, 0.5], [0.2, 0.8]) - 0.6) < 1e-15);
  const kl = 0.5 * Math.log(0.5 / 0.2) + 0.5 * Math.log(0.5 / 0.8);
  assert.ok(Math.abs(klDivergence([0.5, 0.5], [0.2, 0.8]) - kl) < 1e-15);
  assert.equal(klDivergence([0.3, 0.7], [0.3, 0.7]), 0);
});

Deno.test("solveLinear solves a system that needs pivoting and flags a singular one", () => {
  // a x = b with x = [1, -2, 3]; a[0][0] = 0 forces a row swap.
  const a = [[0, 2, 1], [1, 1, 1], [4, -1, 2]];
  const x = [1, -2, 3];
  const b = a.map((r) => r.reduce((s, v, j) => s + v * x[j], 0));
  const got = scope(() =>
    solveLinear(tensor(a.flat(), [3, 3], "float64"), tensor(b, [3], "float64"))!.toList()
  );
  got.forEach((v, i) => assert.ok(Math.abs(v - x[i]) < 1e-12, `${v} vs ${x[i]}`));
  const singular = scope(() =>
    solveLinear(tensor([1, 2, 2, 4], [2, 2], "float64"), tensor([1, 1], [2], "float64"))
  );
  assert.equal(singular, null);
});

Deno.test("EM recovers a known target prior from 10,000 calibrated predictions (L1 < 0.02)", () => {
  const { probs, truth } = synthetic(10_000, TARGET, SOURCE, 7);
  const { prior, iterations } = emPrior(probs, SOURCE);
  const err = l1Distance(prior, truth);
  console.log(
    `EM: L1 ${err.toFixed(4)} after ${iterations} iterations; start L1 ${
      l1Distance(SOURCE, truth).toFixed(3)
    }`,
  );
  assert.ok(err < 0.02, `L1 error ${err}`);
  assert.ok(Math.abs(prior.reduce((a, b) => a + b) - 1) < 1e-12);
  // The same through the public entry point; a Tensor source prior works too.
  const viaApi = estimateTargetPrior(probs, tensor(SOURCE, [5], "float64"), { method: "em" });
  assert.ok(l1Distance(viaApi, prior) < 1e-9);
  probs.dispose();
});

Deno.test("EM on data drawn from the source prior stays near it", () => {
  const { probs, truth } = synthetic(10_000, SOURCE, SOURCE, 11);
  const prior = estimateTargetPrior(probs, SOURCE);
  assert.ok(l1Distance(prior, truth) < 0.02);
  probs.dispose();
});

Deno.test("BBSE recovers a known target prior from a source confusion matrix", () => {
  const source = synthetic(10_000, SOURCE, SOURCE, 3);
  const target = synthetic(10_000, TARGET, SOURCE, 5);
  // Confusion rows are conditionals P(yhat | y): each sums to 1.
  const rowSums = scope(() => confusionMatrix(source.probs, source.labels).sum(1).toList());
  rowSums.forEach((s) => assert.ok(Math.abs(s - 1) < 1e-12));
  const { prior, regularised } = bbsePrior(target.probs, source.probs, source.labels);
  const err = l1Distance(prior, target.truth);
  console.log(`BBSE: L1 ${err.toFixed(4)}`);
  assert.equal(regularised, false);
  assert.ok(err < 0.05, `L1 error ${err}`);
  assert.ok(prior.every((p) => p >= 0));
  const viaApi = estimateTargetPrior(target.probs, SOURCE, {
    method: "bbse",
    sourceProbs: source.probs,
    sourceLabels: source.labels,
  });
  assert.deepEqual(viaApi, prior);
  source.probs.dispose();
  target.probs.dispose();
});

Deno.test("BBSE with a class never labelled falls back to a regularised solve and clips negatives", () => {
  // Source scores for 3 classes where class 2 has no labelled samples.
  const src = tensor([0.9, 0.1, 0, 0.2, 0.8, 0, 0.7, 0.2, 0.1, 0.1, 0.9, 0], [4, 3], "float64");
  const srcLabels = new Int32Array([0, 1, 0, 1]);
  const tgt = tensor([0.1, 0.9, 0, 0.1, 0.9, 0, 0.8, 0.2, 0], [3, 3], "float64");
  const { prior, regularised } = bbsePrior(tgt, src, srcLabels);
  assert.equal(regularised, true);
  assert.ok(Math.abs(prior.reduce((a, b) => a + b) - 1) < 1e-12);
  prior.forEach((p) => assert.ok(p >= 0 && Number.isFinite(p)));
  // Predictions split 1:2 between classes 0 and 1 with a perfect confusion: p_t = [1/3, 2/3, 0].
  assert.ok(Math.abs(prior[0] - 1 / 3) < 1e-4 && Math.abs(prior[1] - 2 / 3) < 1e-4, `${prior}`);
  src.dispose();
  tgt.dispose();
});

Deno.test("estimateTargetPrior rejects an unknown method and BBSE without source data", () => {
  const p = tensor([0.5, 0.5], [1, 2]) as Tensor;
  assert.throws(() => estimateTargetPrior(p, [0.5, 0.5], { method: "mle" } as never), InputError);
  assert.throws(() => estimateTargetPrior(p, [0.5, 0.5], { method: "bbse" } as never), InputError);
  p.dispose();
});
