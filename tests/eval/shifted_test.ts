import assert from "node:assert/strict";
import { Generator, randn, tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import { shiftedCounts, shiftIndices, shotGroups } from "../../lib/data/mod.ts";
import { evaluateSelection, evaluationJson, UNIFORM_RULE_VARIANT } from "../../lib/eval/shifted.ts";
import { l1Distance } from "../../lib/priors/mod.ts";

const C = 10;
const PER_CLASS = 300;
const TRAIN = Array.from({ length: C }, (_, c) => Math.floor(500 * Math.pow(0.01, c / (C - 1))));

/**
 * A balanced "test set" (labels interleaved in file order) and the logits of a
 * softmax model calibrated to the training prior: x = 3 e_y + noise,
 * f = log N(x | mean_c) + log p_s(c).
 */
function syntheticModel(seed: number): { logits: Tensor; labels: Int32Array } {
  const n = C * PER_CLASS;
  const labels = Int32Array.from({ length: n }, (_, i) => i % C);
  const g = new Generator(seed);
  const total = TRAIN.reduce((a, b) => a + b);
  const logits = scope(() => {
    const x = tensor(labels, [n], "int64").oneHot(C).to("float64").mul(3)
      .add(randn([n, C], { dtype: "float64", generator: g }));
    // log N(x | 3 e_c) up to a constant: 3 x_c.
    return x.mul(3).add(tensor(TRAIN.map((t) => Math.log(t / total)), [1, C], "float64")).to(
      "float32",
    );
  });
  g.dispose();
  return { logits, labels };
}

Deno.test("shifted evaluation of a softmax model: counts, variants, PC softmax and EM", () => {
  const { logits, labels } = syntheticModel(1);
  const preds = { logits, labels, trainCounts: TRAIN, method: "softmax" };
  const groups = shotGroups(TRAIN);
  const idx = shiftIndices(labels, TRAIN, "backward50");
  const e = evaluateSelection(preds, idx, "backward50", { prior: "em", groups });
  assert.deepEqual(e.counts, shiftedCounts(TRAIN, PER_CLASS, "backward50"));
  assert.deepEqual(Object.keys(e.results).sort(), ["pc_softmax", "pc_softmax+em", "softmax"]);
  // Under a reversed prior, post-compensation with the true prior beats plain softmax by far.
  assert.ok(
    e.results.pc_softmax.top1 > e.results.softmax.top1 + 10,
    JSON.stringify(e.results.pc_softmax.top1),
  );
  assert.ok(e.estimates.em.l1 < 0.1, `EM L1 ${e.estimates.em.l1}`);
  assert.ok(Math.abs(e.results["pc_softmax+em"].top1 - e.results.pc_softmax.top1) < 3);
  assert.equal(e.rawTop1, e.results.softmax.top1);
  const json = evaluationJson(e) as {
    shift: string;
    counts: number[];
    results: Record<string, Record<string, number>>;
  };
  assert.equal(json.shift, "backward50");
  assert.deepEqual(Object.keys(json.results.softmax).sort(), [
    "brier",
    "ece",
    "few",
    "many",
    "medium",
    "nll",
    "top1",
    "top5",
  ]);
  logits.dispose();
});

Deno.test("a LADE model gets the lade rule; uniform lade equals argmax f; BBSE runs with source data", () => {
  const { logits, labels } = syntheticModel(2);
  const source = syntheticModel(3);
  const preds = { logits, labels, trainCounts: TRAIN, method: "lade" };
  const groups = shotGroups(TRAIN);
  const uni = evaluateSelection(preds, shiftIndices(labels, TRAIN, "uniform"), "uniform", {
    groups,
  });
  assert.deepEqual(Object.keys(uni.results), ["lade"]);
  assert.equal(uni.results.lade.top1, uni.rawTop1);
  const fwd = evaluateSelection(preds, shiftIndices(labels, TRAIN, "forward10"), "forward10", {
    groups,
    prior: "all",
    source,
  });
  assert.deepEqual(Object.keys(fwd.results).sort(), ["lade", "lade+bbse", "lade+em"]);
  assert.ok(l1Distance(fwd.estimates.bbse.prior, fwd.targetPrior) === fwd.estimates.bbse.l1);
  logits.dispose();
  source.logits.dispose();
});

Deno.test("uniformRule: a LADE model's prior-free rule is argmax f on every shift, not for softmax", () => {
  const { logits, labels } = syntheticModel(5);
  const groups = shotGroups(TRAIN);
  const bwd = shiftIndices(labels, TRAIN, "backward10");
  const lade = { logits, labels, trainCounts: TRAIN, method: "lade" };
  const e = evaluateSelection(lade, bwd, "backward10", { groups, uniformRule: true });
  assert.deepEqual(Object.keys(e.results), ["lade", UNIFORM_RULE_VARIANT]);
  // argmax f counted by hand on the shifted set.
  const rows = logits.toArray() as Float32Array;
  let right = 0;
  for (const i of bwd) {
    let best = 0;
    for (let c = 1; c < C; c++) if (rows[i * C + c] > rows[i * C + best]) best = c;
    if (best === labels[i]) right++;
  }
  assert.ok(Math.abs(e.results[UNIFORM_RULE_VARIANT].top1 - (100 * right) / bwd.length) < 1e-9);
  // This model is calibrated to the training prior, so on a backward shift
  // the known target prior helps and the prior-free rule differs.
  assert.notEqual(e.results.lade.top1, e.results[UNIFORM_RULE_VARIANT].top1);
  // Off by default (evaluate's variants), and no such rule for softmax models.
  const plain = evaluateSelection(lade, bwd, "backward10", { groups });
  assert.deepEqual(Object.keys(plain.results), ["lade"]);
  const soft = { logits, labels, trainCounts: TRAIN, method: "softmax" };
  const s = evaluateSelection(soft, bwd, "backward10", { groups, uniformRule: true });
  assert.deepEqual(Object.keys(s.results).sort(), ["pc_softmax", "softmax"]);
  logits.dispose();
});

Deno.test("mismatched logits and labels are rejected", () => {
  const { logits, labels } = syntheticModel(4);
  assert.throws(
    () =>
      evaluateSelection(
        { logits, labels: labels.slice(1), trainCounts: TRAIN, method: "softmax" },
        new Int32Array([0]),
        "uniform",
        { groups: shotGroups(TRAIN) },
      ),
    /rows of logits/,
  );
  logits.dispose();
});

/**
 * An over-confident LADE-style model: its source posterior f + log p_s is 3x
 * the calibrated one 3x + log p_s (so f = 9x + 2 log p_s). `counts` gives the
 * labels' class counts (interleaved order does not matter here).
 */
function overconfidentLade(counts: number[], seed: number): { logits: Tensor; labels: Int32Array } {
  const labels = Int32Array.from(counts.flatMap((n, c) => new Array<number>(n).fill(c)));
  const n = labels.length;
  const g = new Generator(seed);
  const total = TRAIN.reduce((a, b) => a + b);
  const logPs = tensor(TRAIN.map((t) => Math.log(t / total)), [1, C], "float64");
  const logits = scope(() => {
    const x = tensor(labels, [n], "int64").oneHot(C).to("float64").mul(3)
      .add(randn([n, C], { dtype: "float64", generator: g }));
    return x.mul(9).add(logPs.mul(2)).to("float32");
  });
  g.dispose();
  logPs.dispose();
  return { logits, labels };
}

Deno.test("EM with source calibration: TS finds T = 3 on f + log p_s of a LADE model and beats plain EM", () => {
  const test = overconfidentLade(new Array<number>(C).fill(PER_CLASS), 5);
  // Source data drawn with the training prior, so TS alone is well specified.
  const source = overconfidentLade(TRAIN, 6);
  const preds = { logits: test.logits, labels: test.labels, trainCounts: TRAIN, method: "lade" };
  const groups = shotGroups(TRAIN);
  const idx = shiftIndices(test.labels, TRAIN, "backward50");
  const run = (emCalibration: "none" | "ts" | "bcts") =>
    evaluateSelection(preds, idx, "backward50", { prior: "em", source, emCalibration, groups });
  const plain = run("none");
  const ts = run("ts");
  const bcts = run("bcts");
  console.log(
    `L1: plain ${plain.estimates.em.l1.toFixed(4)}, TS ${ts.estimates.em.l1.toFixed(4)} (T ${
      ts.estimates.em.calibration!.temperature.toFixed(3)
    }), BCTS ${bcts.estimates.em.l1.toFixed(4)}`,
  );
  assert.equal(plain.estimates.em.calibration, undefined);
  assert.ok(Math.abs(ts.estimates.em.calibration!.temperature / 3 - 1) < 0.1);
  assert.ok(ts.estimates.em.l1 < plain.estimates.em.l1 / 2, "TS + EM should beat plain EM");
  assert.ok(bcts.estimates.em.l1 < plain.estimates.em.l1 / 2, "BCTS + EM should beat plain EM");
  assert.ok(bcts.estimates.em.l1 < 0.1, `BCTS + EM L1 ${bcts.estimates.em.l1}`);
  // The calibration shows in the JSON of the evaluation.
  const json = evaluationJson(bcts) as { estimates: { em: { calibration: { kind: string } } } };
  assert.equal(json.estimates.em.calibration.kind, "bcts");
  test.logits.dispose();
  source.logits.dispose();
});
