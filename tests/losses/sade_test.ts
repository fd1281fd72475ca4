import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { longTailCounts } from "../../lib/data/mod.ts";
import {
  balancedSoftmaxLoss,
  countsToPrior,
  createLoss,
  crossEntropyLoss,
  expertLogits,
  expertMean,
  inversePrior,
  inverseSoftmaxLoss,
  sadeLoss,
  splitExperts,
} from "../../lib/losses/mod.ts";
import { tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import {
  close,
  COUNTS,
  EXPERTS,
  LABELS,
  labelsOf,
  logits,
  lse,
  PRIOR,
  ROWS,
  value,
} from "./batch.ts";

function refCE(rows: number[][], labels: number[], offset: number[] = rows[0].map(() => 0)) {
  return rows.reduce((s, r, i) => {
    const z = r.map((x, c) => x + offset[c]);
    return s + lse(z) - z[labels[i]];
  }, 0) / rows.length;
}
const labels = () => labelsOf(LABELS);

Deno.test("inversePrior reverses the prior by rank", () => {
  assert.deepEqual(inversePrior([0.5, 0.3, 0.2]), [0.2, 0.3, 0.5]);
  assert.deepEqual(inversePrior([0.2, 0.5, 0.3]), [0.5, 0.2, 0.3]);
  // Fashion-MNIST-LT's counts (no ties): exactly the counts reversed.
  const fm = longTailCounts(6000, 10, 100);
  assert.deepEqual(inversePrior(fm), [...fm].reverse());
  assert.deepEqual(inversePrior([7]), [7]);
});

Deno.test("inversePrior with ties: as the official code, ties ranked by class index", () => {
  // What the official inverse_prior returns with PyTorch 1.13's CPU sort
  // (Debian's python3-torch): an asymmetric tie, and symmetric ones.
  assert.deepEqual(inversePrior([0.5, 0.25, 0.25]), [0.25, 0.5, 0.25]);
  assert.deepEqual(inversePrior([0.4, 0.1, 0.4, 0.1]), [0.1, 0.4, 0.1, 0.4]);
  assert.deepEqual(inversePrior([0.3, 0.2, 0.2, 0.2, 0.1]), [0.1, 0.2, 0.2, 0.2, 0.3]);
  // The step imbalance: the two halves swap, whatever the order among ties.
  assert.deepEqual(inversePrior([10, 10, 10, 1, 1, 1]), [1, 1, 1, 10, 10, 10]);
  // Asymmetric ties: the lower index takes the higher mirrored value.
  assert.deepEqual(inversePrior([1, 1, 2, 3]), [3, 2, 1, 1]);
  assert.deepEqual(inversePrior([3, 1, 1, 2]), [1, 3, 2, 1]);
  // CIFAR-100-LT (R = 100) has tied counts in its tail (four classes of 5
  // images, four of 6, ...). PyTorch's own sort orders some ties against the
  // index (its inverse_prior gives classes 87 and 88 299 and 286 samples'
  // worth); every order gives a tied block the values of the mirrored block
  // of ranks, which this checks, with the rest reversed exactly.
  const counts = longTailCounts(500, 100, 100);
  const inv = inversePrior(counts);
  const sorted = [...counts].sort((a, b) => a - b);
  const classesOf = (n: number) => counts.flatMap((m, c) => (m === n ? [c] : []));
  for (const n of new Set(counts)) {
    const block = classesOf(n);
    const first = sorted.indexOf(n);
    const mirrored = sorted.slice(100 - first - block.length, 100 - first);
    assert.deepEqual(block.map((c) => inv[c]).sort((a, b) => a - b), mirrored, `count ${n}`);
  }
  assert.deepEqual([...inv].sort((a, b) => a - b), sorted);
  // Within a tied block, the lower class index gets the larger value.
  assert.deepEqual(classesOf(5).map((c) => inv[c]), [500, 477, 455, 434]);
});

Deno.test("inversePrior rejects negative and non-finite values", () => {
  assert.throws(() => inversePrior([0.5, -0.1]), InputError);
  assert.throws(() => inversePrior([0.5, NaN]), InputError);
  assert.throws(() => inversePrior([]), InputError);
});

Deno.test("SADE's loss equals the official DiverseExpertLoss", () => {
  // Values of the official model/loss.py (DiverseExpertLoss, its .cuda()
  // dropped, float64) on these logits with PyTorch 1.13.
  close(value(() => sadeLoss(logits(EXPERTS), labels(), PRIOR)), 9.879264877705136);
  close(value(() => sadeLoss(logits(EXPERTS), labels(), PRIOR, { tau: 1 })), 7.775132254185946);
  // A tie in the counts: [500, 120, 120, 5] inverts to [5, 120, 120, 500].
  close(
    value(() => sadeLoss(logits(EXPERTS), labels(), countsToPrior([500, 120, 120, 5]))),
    10.638415478367477,
  );
});

Deno.test("SADE's expert losses match hand-computed cross-entropies", () => {
  const logP = PRIOR.map((p) => Math.log(p + 1e-9));
  const inv = inversePrior(PRIOR);
  const logInv = inv.map((p) => Math.log(p + 1e-9));
  close(
    value(() => balancedSoftmaxLoss(logits(ROWS), labels(), PRIOR)),
    refCE(ROWS, LABELS, logP),
  );
  for (const tau of [2, 0.5]) {
    close(
      value(() => inverseSoftmaxLoss(logits(ROWS), labels(), PRIOR, { tau })),
      refCE(ROWS, LABELS, logP.map((l, c) => l - tau * logInv[c])),
      1e-12,
      `tau ${tau}`,
    );
  }
  // tau 0 leaves balanced softmax; the inverted prior may be given (a Tensor, as the trainer does).
  close(
    value(() => inverseSoftmaxLoss(logits(ROWS), labels(), PRIOR, { tau: 0 })),
    value(() => balancedSoftmaxLoss(logits(ROWS), labels(), PRIOR)),
  );
  close(
    value(() =>
      inverseSoftmaxLoss(logits(ROWS), labels(), tensor(PRIOR, [4], "float64"), {
        inversePrior: tensor(inv, [4], "float64"),
      })
    ),
    value(() => inverseSoftmaxLoss(logits(ROWS), labels(), PRIOR)),
  );
  // The sum of the three.
  const neg = ROWS.map((r) => r.map((x) => -x));
  const dbl = ROWS.map((r) => r.map((x) => 2 * x));
  close(
    value(() => sadeLoss(logits(EXPERTS), labels(), PRIOR)),
    refCE(ROWS, LABELS) + refCE(neg, LABELS, logP) +
      refCE(dbl, LABELS, logP.map((l, c) => l - 2 * logInv[c])),
  );
});

Deno.test("expert views: split, one expert, the plain average", () => {
  scope(() => {
    const x = logits(EXPERTS);
    const [a, b, c] = splitExperts(x);
    assert.deepEqual(a.toList(), ROWS.flat());
    assert.deepEqual(b.toList(), ROWS.flat().map((v) => -v));
    assert.deepEqual(c.toList(), ROWS.flat().map((v) => 2 * v));
    assert.deepEqual(expertLogits(x, 2).toList(), c.toList());
    // (x - x + 2x) / 3
    const mean = expertMean(x).toList();
    ROWS.flat().forEach((v, i) => close(mean[i], (2 * v) / 3, 1e-15));
    assert.deepEqual(expertMean(logits(ROWS), 1).toList(), ROWS.flat());
    assert.throws(() => expertLogits(logits(ROWS), 0, 3), InputError);
    assert.throws(() => expertLogits(x, 3), InputError);
    // A loss on a split keeps its gradient to the full logits.
    const g = logits(EXPERTS);
    g.requiresGrad = true;
    crossEntropyLoss(expertLogits(g, 1), labels()).backward();
    const grad = g.grad!.toList();
    grad.forEach((v, i) => assert.equal(v !== 0, i % 12 >= 4 && i % 12 < 8, `column ${i % 12}`));
  });
});

Deno.test("createLoss('sade'): the inverted prior on the device once; tau 2 unless set", () => {
  const ctx = { epoch: 0, epochs: 1 };
  for (const tau of [undefined, 1]) {
    const loss = createLoss("sade", { trainCounts: COUNTS, tau });
    const x = logits(EXPERTS);
    const y = labels();
    const before = liveTensors();
    const out = loss(x, y, ctx);
    assert.equal(liveTensors(), before + 1);
    close(out.item(), tau === 1 ? 7.775132254185946 : 9.879264877705136);
    out.dispose();
    x.dispose();
    y.dispose();
    loss.dispose();
  }
  // Logits that are not three experts wide: one line naming the shape.
  const loss = createLoss("sade", { trainCounts: COUNTS });
  scope(() => assert.throws(() => loss(logits(ROWS), labels(), ctx), /3 experts.*\[5,4\]/));
  loss.dispose();
});
