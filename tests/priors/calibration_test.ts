import assert from "node:assert/strict";
import { Generator, rand, randn, tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";
import {
  applyCalibration,
  calibratedEmPrior,
  emPrior,
  estimateTargetPrior,
  fitCalibration,
  l1Distance,
  sourcePrior,
} from "../../lib/priors/mod.ts";
import { InputError } from "../../lib/errors.ts";
import { gaussianSamples } from "./gaussian_fixture.ts";

/** Labels drawn from softmax(logits) row by row (inverse CDF), so `logits` are calibrated by construction. */
function sampleLabels(logits: Tensor, g: Generator): Int32Array {
  return scope(() => {
    const cdf = logits.softmax(1).cumsum(1);
    const u = rand([logits.shape[0], 1], { dtype: "float64", generator: g });
    // The label is the number of classes whose CDF lies below u; clamp guards round-off at 1.
    const y = cdf.lt(u).to("int64").sum(1).clamp(0, logits.shape[1] - 1);
    return Int32Array.from(y.toList());
  });
}

/** Random calibrated logits s [n, classes] (spread ~ `scale`) and labels drawn from them. */
function calibratedSample(n: number, classes: number, scale: number, seed: number) {
  const g = new Generator(seed);
  const s = scope(() => randn([n, classes], { dtype: "float64", generator: g }).mul(scale));
  const labels = sampleLabels(s, g);
  g.dispose();
  return { s, labels };
}

Deno.test("TS recovers the temperature of logits made 3x over-confident (within 10%)", () => {
  const { s, labels } = calibratedSample(20_000, 5, 1.5, 1);
  const z = s.mul(3);
  const cal = fitCalibration(z, labels, { kind: "ts" });
  console.log(
    `TS: T ${cal.temperature.toFixed(4)}, NLL ${cal.nllBefore.toFixed(4)} -> ${
      cal.nllAfter.toFixed(4)
    } in ${cal.steps} steps`,
  );
  assert.ok(Math.abs(cal.temperature / 3 - 1) < 0.1, `temperature ${cal.temperature}`);
  assert.ok(cal.nllAfter < cal.nllBefore);
  assert.deepEqual(cal.bias, [0, 0, 0, 0, 0]);
  // Applying the fit brings the logits back to the calibrated ones.
  const back = scope(() => applyCalibration(z, cal).sub(s).abs().max().item());
  assert.ok(back < 0.1 * 3 * 1.5 * 5, `max deviation ${back}`);
  s.dispose();
  z.dispose();
});

Deno.test("BCTS recovers a known per-class bias and temperature", () => {
  const { s, labels } = calibratedSample(20_000, 4, 1.5, 2);
  // The model's logits: calibrated s shifted by -b and doubled, so z / 2 + b = s.
  const b = [1.0, -0.5, 0.3, -0.8];
  const z = scope(() => s.sub(tensor(b, [4], "float64")).mul(2));
  const cal = fitCalibration(z, labels, { kind: "bcts" });
  console.log(`BCTS: T ${cal.temperature.toFixed(4)}, b ${cal.bias.map((x) => x.toFixed(3))}`);
  assert.ok(Math.abs(cal.temperature / 2 - 1) < 0.1, `temperature ${cal.temperature}`);
  // Biases are identified up to a common shift; the fit is centred, so centre the truth.
  const mean = b.reduce((a, x) => a + x) / b.length;
  cal.bias.forEach((v, c) => assert.ok(Math.abs(v - (b[c] - mean)) < 0.1, `bias ${c}: ${v}`));
  // TS alone cannot undo the bias: its NLL stays above BCTS's.
  const ts = fitCalibration(z, labels, { kind: "ts" });
  assert.ok(cal.nllAfter < ts.nllAfter - 0.01, `bcts ${cal.nllAfter} vs ts ${ts.nllAfter}`);
  s.dispose();
  z.dispose();
});

const MEANS = [0, 1.5, 3, 4.5, 6];
const SOURCE = sourcePrior([500, 250, 120, 60, 30]);
const TARGET = [0.05, 0.1, 0.15, 0.3, 0.4];

/**
 * 1-D samples x = mu_y + N(0, 1) with exact label proportions `prior`, and the
 * exact source-posterior logits log N(x; mu_c, 1) + log p_s(c) of each.
 */
function gaussian(n: number, prior: number[], seed: number) {
  const { labels, logLik, truth } = gaussianSamples(n, prior, MEANS, seed);
  const logits = scope(() =>
    logLik.add(tensor(SOURCE.map(Math.log), [1, MEANS.length], "float64"))
  );
  logLik.dispose();
  return { logits, labels, truth };
}

Deno.test("EM after BCTS recovers a shifted prior from miscalibrated predictions far better than plain EM", () => {
  const source = gaussian(10_000, SOURCE, 21);
  const target = gaussian(10_000, TARGET, 22);
  // A miscalibrated model: 3x over-confident and skewed toward the first classes.
  const skew = tensor([2.4, 1.2, 0, -1.2, -2.4], [1, 5], "float64");
  const miscal = (z: Tensor) => scope(() => z.mul(3).add(skew));
  const srcZ = miscal(source.logits);
  const tgtZ = miscal(target.logits);

  const exact = scope(() => emPrior(target.logits.softmax(1), SOURCE).prior);
  const plain = scope(() => emPrior(tgtZ.softmax(1), SOURCE).prior);
  const bcts = calibratedEmPrior(tgtZ, srcZ, source.labels, { kind: "bcts" });
  const ts = calibratedEmPrior(tgtZ, srcZ, source.labels, { kind: "ts" });
  const err = {
    exact: l1Distance(exact, target.truth),
    plain: l1Distance(plain, target.truth),
    ts: l1Distance(ts.prior, target.truth),
    bcts: l1Distance(bcts.prior, target.truth),
  };
  console.log(
    `L1: exact posteriors ${err.exact.toFixed(4)}, plain EM ${err.plain.toFixed(4)}, ` +
      `TS+EM ${err.ts.toFixed(4)} (T ${ts.calibration.temperature.toFixed(3)}), ` +
      `BCTS+EM ${err.bcts.toFixed(4)} (T ${bcts.calibration.temperature.toFixed(3)})`,
  );
  // The source labels follow SOURCE exactly, so that is the reference EM starts from.
  assert.ok(l1Distance(bcts.referencePrior, SOURCE) < 1e-3);
  assert.ok(err.plain > 0.15, `plain EM should be poor here: ${err.plain}`);
  assert.ok(err.bcts < 0.05, `BCTS + EM: ${err.bcts}`);
  assert.ok(err.bcts < err.plain / 4, `BCTS ${err.bcts} vs plain ${err.plain}`);
  // BCTS undoes the skew that TS cannot.
  assert.ok(err.bcts < err.ts, `BCTS ${err.bcts} vs TS ${err.ts}`);

  // The library entry point: probabilities in, calibrated on source probabilities.
  const viaApi = scope(() =>
    estimateTargetPrior(tgtZ.softmax(1), SOURCE, {
      method: "em",
      calibration: "bcts",
      sourceProbs: srcZ.softmax(1),
      sourceLabels: source.labels,
    })
  );
  assert.ok(l1Distance(viaApi, bcts.prior) < 1e-3, `${viaApi} vs ${bcts.prior}`);
  // Without source data it stays plain EM.
  const plainApi = scope(() => estimateTargetPrior(tgtZ.softmax(1), SOURCE, { method: "em" }));
  assert.ok(l1Distance(plainApi, plain) < 1e-9);
  for (const t of [source.logits, target.logits, srcZ, tgtZ, skew]) t.dispose();
});

Deno.test("fitCalibration rejects an unknown kind and mismatched labels", () => {
  const z = tensor([1, 0, 0, 1], [2, 2], "float64");
  assert.throws(
    () => fitCalibration(z, new Int32Array([0, 1]), { kind: "platt" } as never),
    InputError,
  );
  assert.throws(() => fitCalibration(z, new Int32Array([0]), { kind: "ts" }), InputError);
  z.dispose();
});
