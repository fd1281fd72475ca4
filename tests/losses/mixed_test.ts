import assert from "node:assert/strict";
import { countsToPrior, crossEntropyLoss, ladeLoss } from "../../lib/losses/mod.ts";
import { mixedLoss } from "../../lib/losses/mixed.ts";
import { tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
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
const PRIOR = countsToPrior([500, 120, 30, 5]);

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
const logits = (rows: number[][]) => tensor(rows.flat(), [rows.length, rows[0].length], "float64");
const labelsOf = (ys: number[]) => tensor(BigInt64Array.from(ys.map(BigInt)), [ys.length]);
const value = (fn: () => Tensor) => scope(() => fn().item());
function close(actual: number, expected: number, tol = 1e-12, msg = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} ${actual} vs ${expected}`);
}

Deno.test("mixed targets: lambda L(y) + (1 - lambda) L(y[perm]) is the soft-target cross-entropy", () => {
  const perm = [2, 0, 4, 1, 3];
  const yb = perm.map((i) => LABELS[i]);
  const lam = 0.3;
  const soft = LABELS.map((y, i) =>
    [0, 1, 2, 3].map((c) => lam * (c === y ? 1 : 0) + (1 - lam) * (c === yb[i] ? 1 : 0))
  );
  const ctx = { epoch: 0, epochs: 1 };
  const ce = (l: Tensor, y: Tensor) => crossEntropyLoss(l, y);
  close(
    value(() =>
      mixedLoss(ce, logits(ROWS), labelsOf(LABELS), { labelsB: labelsOf(yb), lambda: lam }, ctx)
    ),
    softCE(ROWS, soft),
  );
  // lambda as a 0-d tensor (what a training step passes) gives the same.
  close(
    value(() =>
      mixedLoss(ce, logits(ROWS), labelsOf(LABELS), {
        labelsB: labelsOf(yb),
        lambda: tensor([lam], [], "float32"),
      }, ctx)
    ),
    softCE(ROWS, soft),
    1e-7,
  );
});

Deno.test("mixed targets and LADE: the mix of the two LADEs is LADE with soft-target class means", () => {
  // The soft-target LADER by hand (design.md), with T1_c the soft-weighted mean
  // sum_i w_ic f_ic / (sum_i w_ic + 1e-8), next to prior CE on soft targets.
  const perm = [3, 4, 0, 2, 1];
  const yb = perm.map((i) => LABELS[i]);
  const lam = 0.65;
  const w = LABELS.map((y, i) =>
    [0, 1, 2, 3].map((c) => lam * (c === y ? 1 : 0) + (1 - lam) * (c === yb[i] ? 1 : 0))
  );
  const [alpha, lambda] = [0.1, 0.2];
  const n = ROWS.length, classes = 4;
  let lader = 0;
  for (let c = 0; c < classes; c++) {
    const weight = w.reduce((s, r) => s + r[c], 0);
    const t1 = ROWS.reduce((s, r, i) => s + w[i][c] * r[c], 0) / (weight + 1e-8);
    const t2 = lse(ROWS.map((r) => r[c] - Math.log(PRIOR[c] + 1e-9) + Math.log(1 / classes))) -
      Math.log(n);
    lader -= PRIOR[c] * (t1 - t2 - lambda * t2 * t2);
  }
  const want = softCE(ROWS, w, PRIOR.map(Math.log)) + alpha * lader;
  const lade = (l: Tensor, y: Tensor) => ladeLoss(l, y, PRIOR, { alpha, lambda });
  close(
    value(() =>
      mixedLoss(lade, logits(ROWS), labelsOf(LABELS), { labelsB: labelsOf(yb), lambda: lam }, {
        epoch: 0,
        epochs: 1,
      })
    ),
    want,
    1e-9,
  );
});
