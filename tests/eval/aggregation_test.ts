import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { aggregateLogits, learnAggregation, viewSimilarity } from "../../lib/eval/aggregation.ts";
import { tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";

function close(actual: number, expected: number, tol: number, msg = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} ${actual} vs ${expected}`);
}

// ---- a plain-JS reference of SADE's objective, from the formulas

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
/** Mean cosine similarity of softmax(sum_e w_e f_e) of two views' rows [B][E*C]. */
function refSimilarity(a: number[][], b: number[][], v: number[]): number {
  const w = softmax(v);
  const classes = a[0].length / w.length;
  const agg = (row: number[]) =>
    softmax(
      Array.from({ length: classes }, (_, c) =>
        w.reduce((s, we, e) => s + we * row[e * classes + c], 0)),
    );
  let total = 0;
  a.forEach((row, i) => {
    const p = agg(row), q = agg(b[i]);
    const dot = p.reduce((s, x, c) => s + x * q[c], 0);
    const norm = Math.sqrt(p.reduce((s, x) => s + x * x, 0) * q.reduce((s, x) => s + x * x, 0));
    total += dot / Math.max(norm, 1e-6);
  });
  return total / a.length;
}
function refGrad(a: number[][], b: number[][], v: number[]): number[] {
  const h = 1e-6;
  return v.map((_, e) => {
    const up = [...v], down = [...v];
    up[e] += h;
    down[e] -= h;
    return (refSimilarity(a, b, up) - refSimilarity(a, b, down)) / (2 * h);
  });
}

// Two images' logits of three experts over 3 classes, two views.
const A = [[2, 0, -1, 0.5, 0.2, 0.1, -1, 0.3, 1.8], [0.1, 1.5, 0.2, 0.4, 0.9, -0.2, 0.3, 0.1, 2.2]];
const B = [[1.5, 0.3, -0.5, -0.2, 0.8, 0.4, 0.2, -0.4, 1.1], [
  0.6,
  1.1,
  -0.3,
  0.2,
  0.1,
  0.5,
  1.2,
  0.0,
  0.4,
]];

Deno.test("aggregateLogits weighs each expert's logits", () => {
  scope(() => {
    const x = tensor(A.flat(), [2, 9], "float64");
    const out = aggregateLogits(x, [0.5, 0.3, 0.2]).toList();
    A.forEach((row, i) => {
      for (let c = 0; c < 3; c++) {
        close(out[i * 3 + c], 0.5 * row[c] + 0.3 * row[3 + c] + 0.2 * row[6 + c], 1e-12);
      }
    });
    assert.deepEqual(aggregateLogits(x, [1, 0, 0]).toList(), A.flatMap((r) => r.slice(0, 3)));
  });
});

Deno.test("viewSimilarity and its gradient match the formula", () => {
  scope(() => {
    const a = tensor(A.flat(), [2, 9], "float64");
    const b = tensor(B.flat(), [2, 9], "float64");
    const v0 = [0.2, -0.1, 0.4];
    const v = tensor(v0, [3], "float64");
    v.requiresGrad = true;
    const sim = viewSimilarity(a, b, v);
    close(sim.item(), refSimilarity(A, B, v0), 1e-12);
    sim.backward();
    const grad = v.grad!.toList();
    refGrad(A, B, v0).forEach((g, e) => close(grad[e], g, 1e-8, `d/dv${e}`));
  });
});

Deno.test("learnAggregation takes SGD steps as torch.optim.SGD (Nesterov, weight decay)", () => {
  // One image per epoch and batch: two epochs are two steps, in a known order.
  const views = (epoch: number) => [[A[epoch]], [B[epoch]]];
  const lr = 0.5, momentum = 0.9, decay = 5e-4;
  let v = [1 / 3, 1 / 3, 1 / 3];
  let buf: number[] | null = null;
  let lastSimilarity = NaN;
  for (let epoch = 0; epoch < 2; epoch++) {
    const [a, b] = views(epoch);
    lastSimilarity = refSimilarity(a, b, v);
    const d = refGrad(a, b, v).map((g, e) => -g + decay * v[e]);
    buf = buf === null ? d : buf.map((x, e) => momentum * x + d[e]);
    v = v.map((x, e) => x - lr * (d[e] + momentum * buf![e]));
  }
  const expected = softmax(v);
  scope(() => {
    // [epochs, 2, N = 1, 9]
    const t = tensor([A[0], B[0], A[1], B[1]].flat(), [2, 2, 1, 9], "float32");
    const before = liveTensors();
    const got = learnAggregation(t, { lr, stopBelow: 0 });
    assert.equal(liveTensors(), before);
    assert.equal(got.epochs, 2);
    got.weights.forEach((w, e) => close(w, expected[e], 1e-6, `w${e}`));
    close(got.weights.reduce((s, w) => s + w, 0), 1, 1e-12);
    // The similarity of the last epoch, as its steps went.
    close(got.similarity, lastSimilarity, 1e-6);
  });
});

/** A seeded normal generator (mulberry32 and Box-Muller). */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/**
 * Synthetic experts over 10 classes, 0-4 the head and 5-9 the tail: expert 1
 * is sure and stable on head images and erratic on tail ones, expert 3 the
 * reverse, expert 2 moderately sure everywhere. `headShare` of the images
 * are of head classes. Views [epochs, 2, N, 30]; no labels leave this function.
 */
function syntheticViews(headShare: number, n = 400, epochs = 5, seed = 1): number[] {
  const randn = normals(seed);
  const labels = Array.from({ length: n }, (_, i) => (i < headShare * n ? i % 5 : 5 + (i % 5)));
  const out: number[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let view = 0; view < 2; view++) {
      for (const y of labels) {
        const head = y < 5;
        const expert = (sure: number, noise: number) =>
          Array.from({ length: 10 }, (_, c) => (c === y ? sure : 0) + noise * randn());
        out.push(
          ...(head ? expert(4, 0.5) : expert(0, 3)),
          ...expert(2, 1),
          ...(head ? expert(0, 3) : expert(4, 0.5)),
        );
      }
    }
  }
  return out;
}

Deno.test("the weights move the way the target does: forward to expert 1, backward to expert 3", () => {
  const learn = (headShare: number) =>
    scope(() =>
      learnAggregation(tensor(syntheticViews(headShare), [5, 2, 400, 30], "float32")).weights
    );
  const forward = learn(0.9);
  const backward = learn(0.1);
  assert.ok(forward[0] > 1 / 3 && forward[0] > forward[2], `forward: ${forward}`);
  assert.ok(backward[2] > 1 / 3 && backward[2] > backward[0], `backward: ${backward}`);
  // More head images, more weight on expert 1.
  const mid = learn(0.5);
  assert.ok(forward[0] > mid[0] && mid[0] > backward[0], `${forward} ${mid} ${backward}`);
});

Deno.test("learnAggregation stops after an epoch in which a weight fell below 0.05; bad views", () => {
  scope(() => {
    const views = tensor(syntheticViews(1, 200, 5, 2), [5, 2, 200, 30], "float32");
    const fast = learnAggregation(views, { lr: 50 });
    assert.ok(fast.epochs < 5, `${fast.epochs} epochs`);
    assert.ok(Math.min(...fast.weights) < 0.05);
    assert.equal(learnAggregation(views, { epochs: 2 }).epochs, 2);
    assert.throws(() => learnAggregation(tensor([1, 2, 3, 4], [2, 2])), InputError);
    assert.throws(() => learnAggregation(views, { batchSize: 0 }), InputError);
  });
});
