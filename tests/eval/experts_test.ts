import assert from "node:assert/strict";
import { Generator, randn, tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { cat, stack, type Tensor } from "../../lib/torch/tensor.ts";
import { shotGroups } from "../../lib/data/mod.ts";
import { evaluateGrid } from "../../lib/eval/grid.ts";
import { formatAggregation } from "../../lib/eval/grid_table.ts";
import { computeMetrics } from "../../lib/eval/metrics.ts";
import { evaluateSelection, evaluationJson } from "../../lib/eval/shifted.ts";
import { expertLogits, expertMean } from "../../lib/losses/mod.ts";

const C = 10;
const PER_CLASS = 200;
const TRAIN = Array.from({ length: C }, (_, c) => Math.floor(500 * Math.pow(0.01, c / (C - 1))));
const N = C * PER_CLASS;
const LABELS = Int32Array.from({ length: N }, (_, i) => i % C);

/**
 * A synthetic three-expert model on a balanced test set (labels interleaved):
 * expert 1 is sure and stable on the head (classes 0-4), erratic on the
 * tail; expert 3 the reverse; expert 2 moderately sure everywhere. Each
 * pass draws fresh noise, as the network does on a fresh view. Returns the
 * logits [N, 3C] and views [epochs, 2, N, 3C].
 */
function syntheticExperts(seed: number, epochs = 5): { logits: Tensor; views: Tensor } {
  using g = new Generator(seed);
  return scope(() => {
    const head = tensor(Float32Array.from(LABELS, (y) => (y < 5 ? 1 : 0)), [N, 1]);
    const tail = head.rsub(1);
    const onehot = tensor(LABELS, [N], "int64").oneHot(C).to("float32");
    const noise = () => randn([N, C], { generator: g });
    const sure = (on: Tensor) => onehot.mul(4).add(noise().mul(0.5)).mul(on);
    const erratic = (on: Tensor) => noise().mul(3).mul(on);
    const pass = () =>
      cat([
        sure(head).add(erratic(tail)),
        onehot.mul(2).add(noise()),
        sure(tail).add(erratic(head)),
      ], 1);
    const logits = pass();
    const views = stack(Array.from({ length: 2 * epochs }, pass), 0).reshape(epochs, 2, N, 3 * C);
    return { logits, views };
  });
}

Deno.test("a SADE model: each expert, their average, no prior estimates", () => {
  const { logits, views } = syntheticExperts(1);
  views.dispose();
  const preds = { logits, labels: LABELS, trainCounts: TRAIN, method: "sade" };
  const groups = shotGroups(TRAIN);
  const idx = Int32Array.from({ length: N }, (_, i) => i);
  const e = evaluateSelection(preds, idx, "uniform", { prior: "all", groups });
  assert.deepEqual(Object.keys(e.results), [
    "sade_expert1",
    "sade_expert2",
    "sade_expert3",
    "sade_avg",
  ]);
  assert.deepEqual(e.estimates, {});
  assert.equal(e.aggregation, undefined);
  scope(() => {
    for (let k = 0; k < 3; k++) {
      const want = computeMetrics(expertLogits(logits, k), LABELS, groups);
      assert.equal(e.results[`sade_expert${k + 1}`].top1, want.top1);
      assert.equal(e.results[`sade_expert${k + 1}`].nll, want.nll);
    }
    assert.equal(e.results.sade_avg.top1, computeMetrics(expertMean(logits), LABELS, groups).top1);
  });
  assert.equal(e.rawTop1, e.results.sade_avg.top1);
  // Logits that are not three experts wide are refused.
  assert.throws(
    () =>
      scope(() =>
        evaluateSelection(
          { ...preds, logits: logits.narrow(1, 0, C) },
          idx,
          "uniform",
          { groups },
        )
      ),
    /of 3 experts: 30 columns/,
  );
  logits.dispose();
});

Deno.test("the test-time aggregation on the grid: weights follow the shift, and help at the ends", () => {
  const { logits, views } = syntheticExperts(2);
  const preds = { logits, labels: LABELS, trainCounts: TRAIN, method: "sade", views };
  const before = liveTensors();
  const evals = evaluateGrid(preds, {}, ["forward50", "uniform", "backward50"]);
  assert.equal(liveTensors(), before);
  const [forward, uniform, backward] = evals.map((e) => e.aggregation!);
  for (const a of [forward, uniform, backward]) {
    assert.equal(a.transductive, true);
    assert.ok(Math.abs(a.weights.reduce((s, w) => s + w, 0) - 1) < 1e-9);
  }
  // Forward (head-heavy): more weight on expert 1; backward: on expert 3.
  assert.ok(forward.weights[0] > uniform.weights[0], `${forward.weights} ${uniform.weights}`);
  assert.ok(uniform.weights[0] > backward.weights[0], `${uniform.weights} ${backward.weights}`);
  assert.ok(backward.weights[2] > uniform.weights[2] && uniform.weights[2] > forward.weights[2]);
  assert.ok(forward.weights[0] > forward.weights[2] && backward.weights[2] > backward.weights[0]);
  for (const e of [evals[0], evals[2]]) {
    assert.ok(
      e.results.sade_tta.top1 > e.results.sade_avg.top1,
      `${e.shift}: ${e.results.sade_tta.top1} vs ${e.results.sade_avg.top1}`,
    );
  }
  // The JSON and the text table carry the weights.
  const json = evaluationJson(evals[0]) as { aggregation: { weights: number[]; epochs: number } };
  assert.deepEqual(json.aggregation.weights, forward.weights);
  const table = formatAggregation(evals);
  assert.match(table, /transductive/);
  assert.match(table, new RegExp(`forward50\\s+${forward.weights[0].toFixed(3)}`));
  logits.dispose();
  views.dispose();
});
