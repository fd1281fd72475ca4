/**
 * The losses, the prior estimators and the helpers around them check their
 * arguments and throw the library's InputError naming the parameter (before:
 * a negative or NaN prior gave a NaN loss, a negative alpha or lambda turned
 * the objective around, float labels were truncated, NaN or empty posteriors
 * gave NaN estimates, distances of different lengths gave NaN or a number,
 * and classCounts grew its array for a label out of range).
 */

import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import {
  createLoss,
  crossEntropyLoss,
  focalLoss,
  ladeLoss,
  laderLoss,
  logitAdjustedLoss,
  priorCELoss,
} from "../../lib/losses/mod.ts";
import {
  bbsePrior,
  emPrior,
  estimateTargetPrior,
  klDivergence,
  l1Distance,
} from "../../lib/priors/mod.ts";
import { classBalancedWeights, countsToPrior, ldamLoss } from "../../lib/losses/mod.ts";
import { longTailCounts } from "../../lib/data/long_tail.ts";
import { classCounts } from "../../lib/data/long_tail.ts";
import { labelTensor } from "../../lib/data/labels.ts";
import { scope, tensor } from "../../lib/torch/mod.ts";

function inputError(parameter: string, re: RegExp) {
  return (e: Error) => e instanceof InputError && e.parameter === parameter && re.test(e.message);
}

const PRIOR = [0.3, 0.3, 0.4];

Deno.test("losses: priors, hyper-parameters and labels are checked", () => {
  scope(() => {
    const logits = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const labels = tensor([0, 2], [2], "int64");
    for (const f of [ladeLoss, laderLoss, priorCELoss, logitAdjustedLoss]) {
      assert.throws(
        () => f(logits, labels, [0.5, -0.2, 0.7]),
        inputError("sourcePrior", /must be finite and >= 0, got -0\.2 for class 1/),
      );
      assert.throws(
        () => f(logits, labels, [0.5, NaN, 0.5]),
        inputError("sourcePrior", /got NaN for class 1/),
      );
      assert.throws(() => f(logits, labels, [0, 0, 0]), inputError("sourcePrior", /all zero/));
      assert.throws(
        () => f(logits, labels, [0.5, 0.5]),
        inputError("sourcePrior", /has 2 classes but the logits have 3/),
      );
      assert.throws(
        () => f(logits, tensor([0, 2]), PRIOR),
        inputError("labels", /must be an integer tensor \(class indices\), got float32/),
      );
      // The CPU tensor form is checked too.
      assert.throws(
        () => f(logits, labels, tensor([0.5, -0.2, 0.7])),
        inputError("sourcePrior", /-0\.2/),
      );
    }
    assert.throws(
      () => ladeLoss(logits, labels, PRIOR, { alpha: -1 }),
      inputError("alpha", /must be a finite number >= 0, got -1/),
    );
    assert.throws(
      () => ladeLoss(logits, labels, PRIOR, { lambda: -0.1 }),
      inputError("lambda", /got -0\.1/),
    );
    assert.throws(
      () => ladeLoss(logits, labels, PRIOR, { alpha: NaN }),
      inputError("alpha", /NaN/),
    );
    assert.throws(() => focalLoss(logits, labels, -1), inputError("gamma", /got -1/));
    assert.throws(
      () => logitAdjustedLoss(logits, labels, PRIOR, Infinity),
      inputError("tau", /Infinity/),
    );
    assert.throws(
      () => crossEntropyLoss(logits, labels, [1, -1, 1]),
      inputError("weight", /got -1 for class 1/),
    );
    assert.throws(() => labelTensor([0, 1.5]), inputError("labels", /got 1\.5/));
    assert.throws(() => labelTensor([0, -1]), inputError("labels", /got -1/));
    // Valid arguments still give a finite loss.
    assert.ok(Number.isFinite(ladeLoss(logits, labels, PRIOR).item()));
    assert.ok(Number.isFinite(ladeLoss(logits, tensor([0, 2], [2], "int32"), PRIOR).item()));
  });
  assert.throws(
    () => createLoss("magic", { trainCounts: [1, 2] }),
    inputError("method", /unknown method 'magic'/),
  );
});

Deno.test("prior estimates, distances and class counts check their input", () => {
  scope(() => {
    assert.throws(
      () => estimateTargetPrior(tensor([NaN, 0.5, 0.5, 0.2, 0.3, 0.5], [2, 3]), PRIOR),
      inputError("probs", /holds 1 NaN or infinite value\(s\)/),
    );
    assert.throws(
      () => estimateTargetPrior(tensor([], [0, 3]), PRIOR),
      inputError("probs", /is empty/),
    );
    assert.throws(
      () => estimateTargetPrior(tensor([0.2, 0.3, 0.5]), PRIOR),
      inputError("probs", /must be 2-D/),
    );
    const est = estimateTargetPrior(tensor([0.2, 0.3, 0.5, 0.6, 0.2, 0.2], [2, 3]), PRIOR);
    assert.ok(est.every(Number.isFinite));
  });
  assert.throws(() => l1Distance([0.5, 0.5], [1]), inputError("q", /has 1 classes but p has 2/));
  assert.throws(() => klDivergence([0.5, 0.5], [1, 0, 0]), inputError("q", /has 3 classes/));
  assert.equal(l1Distance([0.5, 0.5], [1, 0]), 1);
  assert.throws(
    () => classCounts(Int32Array.from([0, 5]), 3),
    inputError("labels", /label 5 at index 1 is outside 0\.\.2/),
  );
  assert.throws(() => classCounts(Int32Array.from([0, -1]), 3), inputError("labels", /-1/));
  assert.deepEqual(classCounts(Int32Array.from([0, 2, 2]), 3), [1, 0, 2]);
});

Deno.test("the estimators, weights and counts exported beside them check their input too", () => {
  scope(() => {
    const nan = tensor([NaN, 0.5, 0.5, 0.2, 0.3, 0.5], [2, 3]);
    assert.throws(() => emPrior(nan, PRIOR), inputError("probs", /NaN or infinite/));
    const empty = tensor([], [0, 3]);
    assert.throws(() => bbsePrior(empty, empty, []), inputError("targetScores", /is empty/));
    const logits = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.throws(
      () => ldamLoss(logits, tensor([0, 2], [2], "int64"), [0.5, -1, 0.5], 30),
      inputError("margins", /got -1 for class 1/),
    );
  });
  assert.throws(() => classBalancedWeights([1, 2], 2), inputError("beta", /\[0, 1\), got 2/));
  assert.throws(() => countsToPrior([0, 0]), inputError("trainCounts", /positive/));
  assert.throws(() => countsToPrior([3, -1]), inputError("trainCounts", /-1 for class 1/));
  assert.throws(() => longTailCounts(10, 1e9, 10), inputError("classes", /1000000000/));
});
