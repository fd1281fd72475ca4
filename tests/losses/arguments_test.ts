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
      // A label past the classes, or below 0: said as the labels', not libtorch's gather.
      for (const bad of [3, -1]) {
        assert.throws(
          () => f(logits, tensor([0, bad], [2], "int64"), PRIOR),
          inputError("labels", new RegExp(`must be class indices in \\[0, 3\\), got ${bad}$`)),
        );
      }
    }
    for (const f of [crossEntropyLoss, focalLoss]) {
      assert.throws(
        () => f(logits, tensor([7, 0], [2], "int64")),
        inputError("labels", /must be class indices in \[0, 3\), got 7$/),
      );
    }
    assert.throws(
      () => ldamLoss(logits, tensor([0, 9], [2], "int64"), [0.1, 0.2, 0.3]),
      inputError("labels", /must be class indices in \[0, 3\)/),
    );
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

Deno.test("integer logits, a zero prior, non-tensors and non-probabilities are InputErrors, not NaN", () => {
  scope(() => {
    const labels = tensor([0, 2], [2], "int64");
    for (const dtype of ["int64", "int32"] as const) {
      const ints = tensor([1, 2, 3, 4, 5, 6], [2, 3], dtype);
      for (const f of [ladeLoss, laderLoss, priorCELoss, logitAdjustedLoss]) {
        assert.throws(
          () => f(ints, labels, PRIOR),
          inputError("logits", new RegExp(`must be a floating-point tensor, got ${dtype}`)),
        );
      }
      assert.throws(() => crossEntropyLoss(ints, labels), inputError("logits", /floating-point/));
    }
    const logits = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    // A class of prior 0: log 0 = -inf, an infinite loss (a NaN gradient) before.
    for (const f of [ladeLoss, priorCELoss, logitAdjustedLoss]) {
      assert.throws(
        () => f(logits, tensor([1, 2], [2], "int64"), [0.5, 0, 0.5]),
        inputError("sourcePrior", /must be > 0 for every class, got 0 for class 1/),
      );
    }
    assert.throws(
      () => ladeLoss([1, 2, 3] as unknown as ReturnType<typeof tensor>, labels, PRIOR),
      inputError("logits", /must be a Tensor, got an array/),
    );
    assert.throws(
      () => ladeLoss(logits, labels, null as unknown as number[]),
      inputError("sourcePrior", /must be a number array or a Tensor, got null/),
    );
    assert.throws(
      () => priorCELoss(logits, labels, "0.5" as unknown as number[]),
      inputError("sourcePrior", /got a string/),
    );
    // EM takes probabilities: rows of [0.9, 0.9, 0.9] (sum 2.7) or logits are refused.
    assert.throws(
      () => emPrior(tensor([0.9, 0.9, 0.9, 0.1, 0.1, 0.1], [2, 3]), PRIOR),
      inputError("probs", /rows must sum to 1 \(probabilities\), but one is off by 1\.70/),
    );
    // A source prior of 0 for a class: EM would divide by it (it used to clamp it silently).
    assert.throws(
      () => emPrior(tensor([0.2, 0.3, 0.5, 0.6, 0.3, 0.1], [2, 3]), [1, 0, 0]),
      inputError(
        "sourcePrior",
        /must be > 0 for every class, got 0 for class 1 \(.*EM divides the posteriors by it\)$/,
      ),
    );
    assert.throws(
      () => estimateTargetPrior(tensor([2, -1, 2, 2], [2, 2]), [0.5, 0.5], { method: "em" }),
      inputError("probs", /must be probabilities in \[0, 1\], but 4 value\(s\) are not/),
    );
    assert.throws(
      () => emPrior([[0.5, 0.5]] as unknown as ReturnType<typeof tensor>, [0.5, 0.5]),
      inputError("probs", /must be a Tensor, got an array/),
    );
    assert.throws(
      () => bbsePrior("x" as unknown as ReturnType<typeof tensor>, logits, [0, 1]),
      inputError("targetScores", /must be a Tensor, got a string/),
    );
    // Valid probabilities still work: EM on the source's own posteriors returns about the source prior.
    const probs = tensor([0.3, 0.3, 0.4, 0.3, 0.3, 0.4], [2, 3]);
    const est = emPrior(probs, PRIOR).prior;
    assert.ok(est.every((v, c) => Math.abs(v - PRIOR[c]) < 1e-6), String(est));
  });
});

Deno.test("countsToPrior scales before it sums: ten counts of 1e308 are a uniform prior", () => {
  const near = (a: number[], b: number[]) =>
    assert.ok(a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-15), String(a));
  near(countsToPrior(new Array(10).fill(1e308)), new Array(10).fill(0.1));
  near(countsToPrior([3e307, 1e307]), [0.75, 0.25]);
});
