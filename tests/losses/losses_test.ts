import assert from "node:assert/strict";
import { tensor } from "../../lib/torch/create.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import {
  balpoeLoss,
  classBalancedWeights,
  createLoss,
  crossEntropyLoss,
  focalLoss,
  ladeLoss,
  laderLoss,
  ldamLoss,
  ldamMargins,
  logitAdjustedLoss,
  methodExperts,
  METHODS,
  priorCELoss,
  sadeLoss,
} from "../../lib/losses/mod.ts";
import { InputError } from "../../lib/errors.ts";

// A batch of 5 samples over 4 classes; class 2 is absent from the labels.
const ROWS = [
  [1.2, -0.3, 0.5, 2.0],
  [0.1, 0.9, -1.1, 0.4],
  [-0.7, 0.2, 1.5, -0.2],
  [2.2, 0.0, -0.4, 0.3],
  [0.3, -1.2, 0.8, 1.1],
];
const LABELS = [3, 1, 0, 0, 3];
// Three experts' logits side by side [5, 12]: the rows, negated, and doubled.
const EXPERT_ROWS = ROWS.map((r) => [...r, ...r.map((x) => -x), ...r.map((x) => 2 * x)]);
const COUNTS = [500, 120, 30, 5];
const PRIOR = COUNTS.map((n) => n / COUNTS.reduce((a, b) => a + b));

// ---- plain-JS references, straight from the formulas in design.md

function lse(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}
function refCE(rows: number[][], labels: number[], weight?: number[]): number {
  let num = 0, den = 0;
  rows.forEach((r, i) => {
    const w = weight ? weight[labels[i]] : 1;
    num += w * (lse(r) - r[labels[i]]);
    den += w;
  });
  return num / den;
}
function addVec(rows: number[][], v: number[]): number[][] {
  return rows.map((r) => r.map((x, c) => x + v[c]));
}
function refLader(rows: number[][], labels: number[], prior: number[], lambda: number): number {
  const n = rows.length, classes = prior.length;
  let total = 0;
  for (let c = 0; c < classes; c++) {
    let sum = 0, count = 0;
    rows.forEach((r, i) => {
      if (labels[i] === c) {
        sum += r[c];
        count++;
      }
    });
    const t1 = sum / (count + 1e-8);
    const t2 = lse(rows.map((r) => r[c] - Math.log(prior[c] + 1e-9) + Math.log(1 / classes))) -
      Math.log(n);
    total += prior[c] * (t1 - t2 - lambda * t2 * t2);
  }
  return -total;
}

function logitsT(rows = ROWS, dtype: "float32" | "float64" = "float64"): Tensor {
  return tensor(rows.flat(), [rows.length, rows[0].length], dtype);
}
function labelsT(labels = LABELS): Tensor {
  return tensor(BigInt64Array.from(labels.map(BigInt)), [labels.length]);
}
function value(fn: () => Tensor): number {
  return scope(() => fn().item());
}
function close(actual: number, expected: number, tol = 1e-9, msg = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} ${actual} vs ${expected}`);
}

Deno.test("cross-entropy and prior CE match hand-computed values", () => {
  close(value(() => crossEntropyLoss(logitsT(), labelsT())), refCE(ROWS, LABELS));
  const logPrior = PRIOR.map(Math.log);
  close(
    value(() => priorCELoss(logitsT(), labelsT(), PRIOR)),
    refCE(addVec(ROWS, logPrior), LABELS),
  );
  // The prior as a Tensor gives the same value as the number array.
  close(
    value(() => priorCELoss(logitsT(), labelsT(), tensor(PRIOR, [4], "float64"))),
    refCE(addVec(ROWS, logPrior), LABELS),
  );
  // float32 logits: same value to float32 precision.
  close(
    value(() => crossEntropyLoss(logitsT(ROWS, "float32"), labelsT())),
    refCE(ROWS, LABELS),
    1e-5,
  );
});

Deno.test("prior CE with a uniform prior equals CE; logit-adjusted tau=1 equals prior CE", () => {
  const uniform = [0.25, 0.25, 0.25, 0.25];
  close(
    value(() => priorCELoss(logitsT(), labelsT(), uniform)),
    value(() => crossEntropyLoss(logitsT(), labelsT())),
    1e-12,
  );
  close(
    value(() => logitAdjustedLoss(logitsT(), labelsT(), PRIOR, 1)),
    value(() => priorCELoss(logitsT(), labelsT(), PRIOR)),
    1e-12,
  );
  const tau = 1.7;
  close(
    value(() => logitAdjustedLoss(logitsT(), labelsT(), PRIOR, tau)),
    refCE(addVec(ROWS, PRIOR.map((p) => tau * Math.log(p))), LABELS),
  );
});

Deno.test("LADER and LADE match the formula, with a class absent from the batch", () => {
  for (const lambda of [0, 0.1, 0.5]) {
    const expected = refLader(ROWS, LABELS, PRIOR, lambda);
    close(
      value(() => laderLoss(logitsT(), labelsT(), PRIOR, { lambda })),
      expected,
      1e-9,
      `lambda ${lambda}`,
    );
  }
  // Hand check of the absent class 2: T1_2 = 0, so its bound is -T2 - lambda T2^2.
  const t2 = lse(ROWS.map((r) => r[2] - Math.log(PRIOR[2] + 1e-9) + Math.log(0.25))) - Math.log(5);
  const withoutClass2 = refLader(ROWS, LABELS, PRIOR.map((p, c) => (c === 2 ? 0 : p)), 0.1);
  close(
    refLader(ROWS, LABELS, PRIOR, 0.1) - withoutClass2,
    -PRIOR[2] * (-t2 - 0.1 * t2 * t2),
    1e-9,
  );

  const alpha = 0.3, lambda = 0.2;
  const expected = refCE(addVec(ROWS, PRIOR.map(Math.log)), LABELS) +
    alpha * refLader(ROWS, LABELS, PRIOR, lambda);
  close(value(() => ladeLoss(logitsT(), labelsT(), PRIOR, { alpha, lambda })), expected);
});

Deno.test("focal, class-balanced and LDAM match their formulas", () => {
  const gamma = 2;
  const focal = ROWS.reduce((s, r, i) => {
    const p = Math.exp(r[LABELS[i]] - lse(r));
    return s - Math.pow(1 - p, gamma) * Math.log(p);
  }, 0) / ROWS.length;
  close(value(() => focalLoss(logitsT(), labelsT(), gamma)), focal);
  close(value(() => focalLoss(logitsT(), labelsT(), 0)), refCE(ROWS, LABELS));

  const beta = 0.99;
  const raw = COUNTS.map((n) => (1 - beta) / (1 - beta ** n));
  const w = raw.map((x) => (x * 4) / raw.reduce((a, b) => a + b));
  assert.deepEqual(
    classBalancedWeights(COUNTS, beta).map((x) => x.toFixed(12)),
    w.map((x) => x.toFixed(12)),
  );
  close(value(() => crossEntropyLoss(logitsT(), labelsT(), w)), refCE(ROWS, LABELS, w));

  const margins = ldamMargins(COUNTS, 0.5);
  close(margins[3], 0.5, 1e-15);
  close(margins[0], 0.5 * Math.pow(5 / 500, 0.25), 1e-12);
  const shifted = ROWS.map((r, i) => r.map((x, c) => 30 * (c === LABELS[i] ? x - margins[c] : x)));
  close(value(() => ldamLoss(logitsT(), labelsT(), margins, 30)), refCE(shifted, LABELS), 1e-8);
  close(
    value(() => ldamLoss(logitsT(), labelsT(), margins, 30, w)),
    refCE(shifted, LABELS, w),
    1e-8,
  );
});

/** The gradient of `loss` at ROWS by central differences, element by element. */
function finiteDiff(loss: (logits: Tensor) => Tensor): number[] {
  const flat = ROWS.flat();
  const eps = 1e-6;
  return flat.map((_, k) => {
    const at = (d: number) => {
      const moved = flat.slice();
      moved[k] += d;
      return value(() => loss(tensor(moved, [5, 4], "float64")));
    };
    return (at(eps) - at(-eps)) / (2 * eps);
  });
}

function autogradGrad(loss: (logits: Tensor) => Tensor): number[] {
  return scope(() => {
    const x = logitsT();
    x.requiresGrad = true;
    loss(x).backward();
    return x.grad!.toList();
  });
}

Deno.test("gradients of every loss agree with finite differences (float64)", () => {
  const y = () => labelsT();
  const cases: [string, (x: Tensor) => Tensor][] = [
    ["ce", (x) => crossEntropyLoss(x, y())],
    ["prior-ce", (x) => priorCELoss(x, y(), PRIOR)],
    ["lader", (x) => laderLoss(x, y(), PRIOR, { lambda: 0.3 })],
    ["lade", (x) => ladeLoss(x, y(), PRIOR, { alpha: 0.5, lambda: 0.1 })],
    ["focal", (x) => focalLoss(x, y(), 2)],
    ["ldam", (x) => ldamLoss(x, y(), ldamMargins(COUNTS), 5, classBalancedWeights(COUNTS, 0.99))],
  ];
  for (const [name, fn] of cases) {
    const auto = autogradGrad(fn);
    const numeric = finiteDiff(fn);
    assert.ok(auto.some((g) => Math.abs(g) > 1e-4), `${name}: gradient is not all zero`);
    auto.forEach((g, k) => close(g, numeric[k], 1e-6, `${name} d/dx[${k}]`));
  }
});

Deno.test("createLoss builds every method, matches the direct losses, and frees its intermediates", () => {
  const ctx = { epoch: 0, epochs: 10 };
  const direct: Record<string, () => Tensor> = {
    "softmax": () => crossEntropyLoss(logitsT(), labelsT()),
    "prior-ce": () => priorCELoss(logitsT(), labelsT(), PRIOR),
    "lade": () => ladeLoss(logitsT(), labelsT(), PRIOR, { alpha: 0.1, lambda: 0.1 }),
    "logit-adjusted": () => logitAdjustedLoss(logitsT(), labelsT(), PRIOR, 1),
    "focal": () => focalLoss(logitsT(), labelsT(), 2),
    "class-balanced": () => crossEntropyLoss(logitsT(), labelsT(), classBalancedWeights(COUNTS)),
    "ldam-drw": () => ldamLoss(logitsT(), labelsT(), ldamMargins(COUNTS), 30),
    // Three experts: the batch's logits, negated, and doubled, side by side.
    "sade": () => sadeLoss(logitsT(EXPERT_ROWS), labelsT(), PRIOR, { tau: 2 }),
    "balpoe": () => balpoeLoss(logitsT(EXPERT_ROWS), labelsT(), PRIOR, [0, 1, 2]),
  };
  assert.deepEqual([...METHODS].sort(), Object.keys(direct).sort());
  for (const method of METHODS) {
    const fn = createLoss(method, { trainCounts: COUNTS });
    const x = logitsT(methodExperts(method) === 3 ? EXPERT_ROWS : ROWS);
    const y = labelsT();
    const before = liveTensors();
    const loss = fn(x, y, ctx);
    assert.equal(liveTensors(), before + 1, `${method} leaves only its result alive`);
    assert.deepEqual(loss.shape, []);
    close(loss.item(), value(direct[method]), 1e-12, method);
    loss.dispose();
    x.dispose();
    y.dispose();
  }
  // DRW: re-weighted from epoch floor(0.8 * epochs) on.
  const drw = createLoss("ldam-drw", { trainCounts: COUNTS });
  const weighted = value(() =>
    ldamLoss(logitsT(), labelsT(), ldamMargins(COUNTS), 30, classBalancedWeights(COUNTS))
  );
  close(
    value(() => drw(logitsT(), labelsT(), { epoch: 7, epochs: 10 })),
    value(direct["ldam-drw"]),
    1e-12,
  );
  close(value(() => drw(logitsT(), labelsT(), { epoch: 8, epochs: 10 })), weighted, 1e-12);
  assert.notEqual(weighted.toFixed(6), value(direct["ldam-drw"]).toFixed(6));
  // The phase changes exactly where the loss does (a captured step is captured again there).
  assert.equal(drw.phase({ epoch: 7, epochs: 10 }), "plain");
  assert.equal(drw.phase({ epoch: 8, epochs: 10 }), "drw");
  const lade = createLoss("lade", { trainCounts: COUNTS });
  assert.equal(lade.phase({ epoch: 0, epochs: 10 }), lade.phase({ epoch: 9, epochs: 10 }));
  // The constants it put on the device are freed with it.
  const before = liveTensors();
  drw.dispose();
  assert.equal(liveTensors(), before - 3, "prior, margins and weights freed");
  lade.dispose();
  const sade = createLoss("sade", { trainCounts: COUNTS });
  const held = liveTensors();
  sade.dispose();
  assert.equal(liveTensors(), held - 2, "prior and inverted prior freed");
});

Deno.test("createLoss rejects unknown methods and bad options", () => {
  assert.throws(() => createLoss("nope", { trainCounts: COUNTS }), InputError);
  assert.throws(() => createLoss("lade", { trainCounts: [10, 0] }), InputError);
  assert.throws(() => createLoss("focal", { trainCounts: COUNTS, gamma: -1 }), InputError);
  assert.throws(() => createLoss("class-balanced", { trainCounts: COUNTS, beta: 1 }), InputError);
});
