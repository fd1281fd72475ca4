import assert from "node:assert/strict";
import { tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import { computeMetrics } from "../../lib/eval/metrics.ts";
import { adjustLogits, rulesForMethod } from "../../lib/eval/rules.ts";

const ROWS = [
  [2.0, 0.5, -1.0, 0.0, 0.1, 0.2],
  [0.1, 1.5, 0.3, -0.5, 0.0, 0.0],
  [0.0, 0.2, 0.1, 3.0, -1.0, 0.4],
  [1.0, 1.1, 0.9, 0.0, 0.0, 0.0],
  [-2.0, 0.0, 0.5, 0.2, 2.5, 0.3],
  [0.3, 0.2, 0.1, 0.0, -0.1, -0.2],
  [0.0, 0.0, 4.0, 0.0, 0.0, 0.0],
];
const LABELS = [0, 1, 2, 0, 4, 5, 2];
const GROUPS = { many: [0, 1], medium: [2, 3], few: [4, 5] };

function softmax(r: number[]): number[] {
  const m = Math.max(...r);
  const e = r.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b);
  return e.map((x) => x / s);
}

function reference(rows: number[][], labels: number[]) {
  const n = rows.length;
  const probs = rows.map(softmax);
  const pred = rows.map((r) => r.indexOf(Math.max(...r)));
  const correct = pred.map((p, i) => (p === labels[i] ? 1 : 0));
  const top5 = rows.map((r, i) => {
    const order = r.map((v, c) => [v, c]).sort((a, b) => b[0] - a[0]).slice(0, 5).map((x) => x[1]);
    return order.includes(labels[i]) ? 1 : 0;
  });
  const perClass = [0, 1, 2, 3, 4, 5].map((c) => {
    const idx = labels.map((y, i) => (y === c ? i : -1)).filter((i) => i >= 0);
    return idx.length ? (idx.reduce((s, i) => s + correct[i], 0) / idx.length) * 100 : null;
  });
  const bins = new Map<number, { conf: number; acc: number; n: number }>();
  probs.forEach((p, i) => {
    const conf = Math.max(...p);
    const b = Math.min(19, Math.max(0, Math.ceil(conf * 20) - 1));
    const e = bins.get(b) ?? { conf: 0, acc: 0, n: 0 };
    e.conf += conf;
    e.acc += correct[i];
    e.n++;
    bins.set(b, e);
  });
  let ece = 0;
  for (const e of bins.values()) ece += (e.n / n) * Math.abs(e.acc / e.n - e.conf / e.n);
  const brier = probs.reduce((s, p, i) => {
    const onehot = p.map((_, c) => (c === labels[i] ? 1 : 0));
    return s + p.reduce((t, v, c) => t + (v - onehot[c]) ** 2, 0);
  }, 0) / n;
  const nll = probs.reduce((s, p, i) => s - Math.log(Math.max(p[labels[i]], 1e-15)), 0) / n;
  return {
    top1: (correct.reduce((a: number, b) => a + b, 0) / n) * 100,
    top5: (top5.reduce((a: number, b) => a + b, 0) / n) * 100,
    perClass,
    ece: ece * 100,
    brier,
    nll,
  };
}

const close = (a: number | null, b: number | null, tol = 1e-9) =>
  assert.ok(a !== null && b !== null && Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("metrics match values computed by hand (Brier as sum (p - onehot)^2)", () => {
  const ref = reference(ROWS, LABELS);
  const m = scope(() =>
    computeMetrics(tensor(ROWS.flat(), [7, 6]), new Int32Array(LABELS), GROUPS)
  );
  close(m.top1, ref.top1);
  close(m.top5, ref.top5);
  assert.ok(m.top5 < 100, "one label lies outside the top 5");
  ref.perClass.forEach((
    v,
    c,
  ) => (v === null ? assert.equal(m.perClass[c], null) : close(m.perClass[c], v)));
  // Shot groups average the per-class accuracies of the classes present.
  close(m.many, (ref.perClass[0]! + ref.perClass[1]!) / 2);
  close(m.medium, ref.perClass[2]!); // class 3 has no samples
  close(m.few, (ref.perClass[4]! + ref.perClass[5]!) / 2);
  close(m.ece, ref.ece, 1e-5);
  close(m.brier, ref.brier, 1e-6);
  close(m.nll, ref.nll, 1e-6);
  assert.equal(m.reliability.length, 20);
  assert.equal(m.reliability.reduce((s, b) => s + b.count, 0), 7);
});

Deno.test("NLL clips probabilities at 1e-15", () => {
  const m = scope(() =>
    computeMetrics(tensor([0, 100], [1, 2], "float64"), new Int32Array([0]), GROUPS)
  );
  close(m.nll, -Math.log(1e-15), 1e-9);
  close(m.ece, 100, 1e-9);
});

Deno.test("PC softmax with p_t = p_s predicts as softmax; the rules adjust by the log priors", () => {
  const ps = [0.5, 0.2, 0.1, 0.1, 0.05, 0.05];
  const pt = [0.05, 0.05, 0.1, 0.1, 0.2, 0.5];
  scope(() => {
    const f = tensor(ROWS.flat(), [7, 6], "float64");
    assert.deepEqual(
      adjustLogits(f, "pc_softmax", ps, ps).argmax(1).toList(),
      adjustLogits(f, "softmax", ps, pt).argmax(1).toList(),
    );
    const uniform = ps.map(() => 1 / 6);
    const pc = adjustLogits(f, "pc_softmax", ps, pt).toList();
    // LADE's logits model the uniform-prior posterior: f + log p_t.
    const lade = adjustLogits(f, "lade", uniform, pt).toList();
    // One trained under another prior (LADE on class-balanced batches: 1 / p_s)
    // is first brought back to uniform: f - log prior + log p_t.
    const skewed = adjustLogits(f, "lade", ps, pt).toList();
    ROWS.flat().forEach((x, k) => {
      const c = k % 6;
      close(pc[k], x - Math.log(ps[c]) + Math.log(pt[c]), 1e-12);
      close(lade[k], x + Math.log(pt[c]), 1e-12);
      close(skewed[k], x - Math.log(ps[c]) + Math.log(pt[c]), 1e-12);
    });
    // A LADE model with a uniform target predicts argmax f.
    assert.deepEqual(
      adjustLogits(f, "lade", uniform, uniform).argmax(1).toList(),
      f.argmax(1).toList(),
    );
  });
  assert.deepEqual(rulesForMethod("softmax"), ["softmax", "pc_softmax"]);
  assert.deepEqual(rulesForMethod("lade"), ["lade"]);
  assert.deepEqual(rulesForMethod("prior-ce"), ["lade"]);
});
