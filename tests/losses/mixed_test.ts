import { crossEntropyLoss, ladeLoss } from "../../lib/losses/mod.ts";
import { mixedLoss } from "../../lib/losses/mixed.ts";
import { tensor } from "../../lib/torch/create.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import { close, LABELS, labelsOf, logits, lse, PRIOR, ROWS, softCE, value } from "./batch.ts";

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
