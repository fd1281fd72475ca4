/**
 * UOGD and ATLAS on a case small enough to follow by hand: two classes, two
 * labelled source samples with logits (2, 0) (class 0) and (0, 2) (class 1),
 * and a per-round estimator that returns fixed estimates for three rounds.
 * The reference below steps the affine layer W [2, 3] on x = [z, 1] with
 * the cross-entropy gradient written out, sum_i w_i (softmax(W x_i) - e_y) x_i^T,
 * w_i = q(y_i) / n_(y_i), in plain arithmetic (the classes use libtorch).
 */

import assert from "node:assert/strict";
import { AffineRisk, Atlas, type ProbRows, Uogd } from "../../lib/online/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { liveTensors } from "../../lib/torch/memory.ts";

const X = [[2, 0, 1], [0, 2, 1]];
const Y = [0, 1];
const ESTIMATES = [[0.8, 0.2], [1.2, -0.2], [0.3, 0.7]];
/** The estimates projected onto the simplex, as the adapters use them: (1.2, -0.2) -> (1, 0). */
const PROJECTED = [[0.8, 0.2], [1, 0], [0.3, 0.7]];

/** An estimator that returns the t-th fixed estimate on its t-th call. */
function fixedEstimates() {
  let t = 0;
  return (_: ProbRows) => Float64Array.from(ESTIMATES[t++]);
}

type Layer = number[][];

function softmax(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Risk and gradient of W under q, by the formula. */
function reference(w: Layer, q: number[]): { risk: number; grad: Layer } {
  const grad = [[0, 0, 0], [0, 0, 0]];
  let risk = 0;
  X.forEach((x, i) => {
    const weight = q[Y[i]] / 1; // one sample per class
    const logits = w.map((row) => row.reduce((s, v, k) => s + v * x[k], 0));
    const p = softmax(logits);
    risk += -weight * Math.log(p[Y[i]]);
    for (let c = 0; c < 2; c++) {
      const r = p[c] - (c === Y[i] ? 1 : 0);
      for (let k = 0; k < 3; k++) grad[c][k] += weight * r * x[k];
    }
  });
  return { risk, grad };
}

function step(w: Layer, grad: Layer, eta: number, radius: number): Layer {
  const next = w.map((row, c) => row.map((v, k) => v - eta * grad[c][k]));
  const norm = Math.sqrt(next.flat().reduce((s, v) => s + v * v, 0));
  const f = Math.min(1, radius / norm);
  return next.map((row) => row.map((v) => v * f));
}

const IDENTITY: Layer = [[1, 0, 0], [0, 1, 0]];
const ROUND: number[][] = [[0.5, 0.5]];

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

Deno.test("the unbiased risk's gradient, by hand for the first step", () => {
  const { grad } = reference(IDENTITY, [0.8, 0.2]);
  // Sample 1: softmax(2, 0) = (0.880797, 0.119203), weight 0.8, x = (2, 0, 1);
  // sample 2: softmax(0, 2), weight 0.2, x = (0, 2, 1).
  const a = 0.8 * 0.1192029, b = 0.2 * 0.1192029;
  close(grad.flat(), [-2 * a, 2 * b, -a + b, 2 * a, -2 * b, a - b], 1e-6, "hand gradient");
});

Deno.test("UOGD: three projected gradient steps match the formula", () => {
  const before = liveTensors();
  {
    using logits = tensor([2, 0, 0, 2], [2, 2]);
    const risk = new AffineRisk(logits, Int32Array.from(Y));
    // sqrt(2) * |(2, 0, 1)| = sqrt(10).
    assert.ok(Math.abs(risk.gradientBound - Math.sqrt(10)) < 1e-6);
    for (const radius of [100, Math.SQRT2]) {
      const uogd = new Uogd(risk, fixedEstimates(), { horizon: 3, stepSize: 0.5, radius });
      let w = IDENTITY;
      close(uogd.layer(), w.flat(), 0, "start");
      for (let t = 0; t < 3; t++) {
        uogd.update(ROUND);
        w = step(w, reference(w, PROJECTED[t]).grad, 0.5, radius);
        close(uogd.layer(), w.flat(), 1e-5, `radius ${radius}, after round ${t}`);
      }
      assert.equal(uogd.prior(), null);
      uogd.dispose();
    }
    // The default step: 2 |W_0| / (G sqrt(T)) = 2 sqrt(2) / (sqrt(10) sqrt(3))
    // (G from float32 logits: to 1e-6 relative).
    const d = new Uogd(risk, fixedEstimates(), { horizon: 3 });
    const eta = 2 * Math.SQRT2 / (Math.sqrt(10) * Math.sqrt(3));
    assert.ok(Math.abs(d.stepSize / eta - 1) < 1e-6, String(d.stepSize));
    d.dispose();
    risk.dispose();
  }
  assert.equal(liveTensors(), before);
});

Deno.test("ATLAS: learners over a step-size pool, Hedge on their risks, the weighted layer", () => {
  const before = liveTensors();
  {
    using logits = tensor([2, 0, 0, 2], [2, 2]);
    const risk = new AffineRisk(logits, Int32Array.from(Y));
    const steps = [0.1, 1];
    const eps = 0.7;
    const atlas = new Atlas(risk, fixedEstimates(), {
      horizon: 3,
      confusionSigma: 1,
      stepSizes: steps,
      metaRate: eps,
      radius: 100,
    });
    let layers = steps.map(() => IDENTITY);
    const total = [0, 0];
    for (let t = 0; t < 3; t++) {
      atlas.update(ROUND);
      layers = layers.map((w, i) => {
        const { risk, grad } = reference(w, PROJECTED[t]);
        total[i] += risk;
        return step(w, grad, steps[i], 100);
      });
      const p = softmax(total.map((r) => -eps * r));
      close(atlas.weights(), p, 1e-6, `weights after round ${t}`);
      const mix = layers[0].flat().map((v, k) => p[0] * v + p[1] * layers[1].flat()[k]);
      close(atlas.layer(), mix, 1e-5, `layer after round ${t}`);
    }
    atlas.dispose();
    // The default pool: N = 1 + ceil(log2(1 + 2T) / 2) sizes doubling from
    // R sigma / (G sqrt(C T)); eps = 2 sqrt(ln N / T).
    const pool = new Atlas(risk, fixedEstimates(), { horizon: 500, confusionSigma: 0.5 });
    assert.equal(pool.stepSizes.length, 1 + Math.ceil(Math.log2(1001) / 2));
    const first = Math.SQRT2 * 0.5 / (Math.sqrt(10) * Math.sqrt(2 * 500));
    pool.stepSizes.forEach((s, i) =>
      assert.ok(Math.abs(s / (first * 2 ** i) - 1) < 1e-6, `pool[${i}]`)
    );
    assert.ok(Math.abs(pool.metaRate - 2 * Math.sqrt(Math.log(6) / 500)) < 1e-12);
    pool.dispose();
    risk.dispose();
  }
  assert.equal(liveTensors(), before);
});
