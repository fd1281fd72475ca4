/**
 * The online evaluation on synthetic logits with known posteriors
 * (fixture.ts): the oracle's per-round accuracy is that of predicting each
 * round with its true prior through the model's rule; `none` is the model
 * as trained; with q_t constant, every consistent estimator's prior
 * converges to q; regret is measured against the oracle.
 */

import assert from "node:assert/strict";
import { adjustLogits } from "../../lib/eval/rules.ts";
import {
  endpointPrior,
  OnlineEvaluator,
  sampleStream,
  scheduleMarginals,
} from "../../lib/online/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { cat } from "../../lib/torch/tensor.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import { gaussianLogits } from "./fixture.ts";

const TRAIN = [300, 100, 30];

/** Accuracy (%) of argmax of adjusted logits of the rows `rows`, in JS. */
function accuracyOf(
  logits: Float32Array,
  classes: number,
  labels: Int32Array,
  rows: ArrayLike<number>,
): number {
  let correct = 0;
  for (let k = 0; k < rows.length; k++) {
    const row = Array.from(logits.subarray(k * classes, (k + 1) * classes));
    if (row.indexOf(Math.max(...row)) === labels[rows[k]]) correct++;
  }
  return (100 * correct) / rows.length;
}

for (const method of ["lade", "softmax"]) {
  Deno.test(`${method}: the oracle's accuracy is each round predicted with its true prior; none's with the base prior`, () => {
    const before = liveTensors();
    const test = gaussianLogits(200, 1);
    try {
      const classes = 3;
      using online = new OnlineEvaluator({
        logits: test.logits,
        labels: test.labels,
        trainCounts: TRAIN,
        method,
      });
      const q = scheduleMarginals(
        "sinusoidal",
        endpointPrior("uniform", TRAIN),
        endpointPrior("onehot:2", TRAIN),
        {
          rounds: 40,
          period: 10,
        },
      );
      const stream = sampleStream(test.labels, q, 8, 3);
      const r = online.run(stream, ["fth"]);
      assert.deepEqual(Object.keys(r.methods), ["none", "oracle", "fth"]);
      const rule = method === "lade" ? "lade" : "pc_softmax";
      const ps = TRAIN.map((n) => n / 430);
      const base = method === "lade" ? [1 / 3, 1 / 3, 1 / 3] : ps;
      for (let t = 0; t < stream.rounds; t++) {
        const rows = stream.indices.slice(t * 8, (t + 1) * 8);
        const [oracle, none] = scope(() => {
          const z = test.logits.indexSelect(0, tensor(rows, [8], "int64"));
          return [
            // (adjustLogits takes the prior the logits were trained under: `base`.)
            adjustLogits(z, rule, base, q[t]).toArray() as Float32Array,
            adjustLogits(z, rule, base, base).toArray() as Float32Array,
          ];
        });
        assert.equal(
          r.methods.oracle.series.accuracy[t],
          accuracyOf(oracle, classes, test.labels, rows),
          `round ${t}`,
        );
        assert.equal(
          r.methods.none.series.accuracy[t],
          accuracyOf(none, classes, test.labels, rows),
          `round ${t}`,
        );
        assert.ok(Math.abs(r.methods.oracle.series.priorL1[t]!) < 1e-12);
      }
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      assert.equal(r.methods.oracle.accuracy, mean(r.methods.oracle.series.accuracy));
      assert.equal(r.methods.oracle.regret, 0);
      // Drawn toward one class, the oracle beats the model as trained.
      assert.ok(r.methods.oracle.accuracy > r.methods.none.accuracy + 3);
      assert.ok(r.methods.none.regret > 1);
    } finally {
      test.logits.dispose();
    }
    assert.equal(liveTensors(), before);
  });
}

Deno.test("with q_t constant, every consistent estimator's prior converges to q", () => {
  const before = liveTensors();
  const test = gaussianLogits(1000, 4);
  const source = gaussianLogits(2000, 5);
  try {
    const q = [0.6, 0.3, 0.1];
    const marginals = Array.from({ length: 400 }, () => q);
    const stream = sampleStream(test.labels, marginals, 10, 6);
    for (const estimator of ["em", "bbse"] as const) {
      using online = new OnlineEvaluator(
        { logits: test.logits, labels: test.labels, trainCounts: TRAIN, method: "lade" },
        {
          source: { logits: source.logits, labels: source.labels },
          estimator,
          calibration: "none",
        },
      );
      // A window of 150 rounds (1500 samples) and a step of 0.02: both average
      // enough samples to come within sampling error of q.
      const methods = estimator === "em"
        ? ["em-window", "em-online", "fth", "flh-ftl", "uogd", "atlas"]
        : ["fth", "flh-ftl"];
      const r = online.run(stream, methods, { emStepSize: 0.02, window: 150 });
      const last = (name: string) => {
        const p = r.methods[name].priors!;
        return p.slice(-50).map((x) => x.reduce((s, v, c) => s + Math.abs(v - q[c]), 0));
      };
      for (const name of methods.filter((m) => m !== "uogd" && m !== "atlas")) {
        const errors = last(name);
        const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
        // Within sampling error (the start, the model's uniform prior, is 0.53 away).
        assert.ok(
          mean < 0.08,
          `${name} (${estimator}): mean L1 ${mean.toFixed(3)} over the last 50 rounds`,
        );
      }
      // Not adapting is not consistent: the model's uniform prior stays 0.53 away.
      assert.ok(
        Math.abs(r.methods.none.priorL1! - (0.6 - 1 / 3 + 1 / 3 - 0.3 + 1 / 3 - 0.1)) < 1e-9,
      );
      // The adapters' classifiers come closer to the oracle than the model as trained.
      for (const name of methods.filter((m) => m === "uogd" || m === "atlas")) {
        assert.equal(r.methods[name].priorL1, null);
        assert.ok(
          r.methods[name].regret < r.methods.none.regret,
          `${name} regret ${r.methods[name].regret}`,
        );
      }
    }
  } finally {
    test.logits.dispose();
    source.logits.dispose();
  }
  assert.equal(liveTensors(), before);
});

Deno.test("a multi-expert (SADE) model is evaluated on its experts' aggregated logits with the LADE rule", () => {
  const before = liveTensors();
  const test = gaussianLogits(100, 7);
  try {
    // Three identical experts: their equal-weight aggregation is f itself,
    // so every method must see exactly what a LADE model with logits f sees.
    using experts = cat([test.logits, test.logits, test.logits], 1);
    const q = scheduleMarginals(
      "square",
      endpointPrior("uniform", TRAIN),
      endpointPrior("onehot:0", TRAIN),
      {
        rounds: 20,
        period: 4,
      },
    );
    const stream = sampleStream(test.labels, q, 6, 2);
    const run = (logits: typeof test.logits, method: string) => {
      using online = new OnlineEvaluator({
        logits,
        labels: test.labels,
        trainCounts: TRAIN,
        method,
      });
      return online.run(stream, ["em-online", "flh-ftl"]);
    };
    const sade = run(experts, "sade");
    const lade = run(test.logits, "lade");
    for (const name of ["none", "oracle", "em-online", "flh-ftl"]) {
      assert.deepEqual(
        sade.methods[name].series.accuracy,
        lade.methods[name].series.accuracy,
        name,
      );
    }
  } finally {
    test.logits.dispose();
  }
  assert.equal(liveTensors(), before);
});

Deno.test("the evaluation refuses a stream of another class count, unknown methods, missing source data", () => {
  const test = gaussianLogits(20, 1);
  try {
    using online = new OnlineEvaluator({
      logits: test.logits,
      labels: test.labels,
      trainCounts: TRAIN,
      method: "lade",
    });
    const stream = sampleStream(test.labels, [[0.5, 0.5, 0]], 2);
    assert.throws(() => online.run(stream, ["nope"]), /unknown online method 'nope'/);
    const twoClasses = sampleStream(Int32Array.from([0, 1]), [[0.5, 0.5]], 2);
    assert.throws(() => online.run(twoClasses, []), /marginals have 2 classes but the model 3/);
    assert.throws(() => online.run(stream, ["uogd"]), /uogd needs labelled source data/);
    assert.throws(
      () =>
        new OnlineEvaluator({
          logits: test.logits,
          labels: test.labels,
          trainCounts: TRAIN,
          method: "lade",
        }, { estimator: "bbse" }),
      /bbse per-round estimator needs labelled source data/,
    );
  } finally {
    test.logits.dispose();
  }
});
