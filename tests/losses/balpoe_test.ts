import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { balpoeLoss, combineExperts, createLoss, predictionExperts } from "../../lib/losses/mod.ts";
import { liveTensors, scope } from "../../lib/torch/memory.ts";
import {
  close,
  COUNTS,
  EXPERTS,
  LABELS,
  labelsOf,
  logits,
  PRIOR,
  ROWS,
  softCE,
  value,
} from "./batch.ts";

const oneHot = (ys: number[]) => ys.map((y) => [0, 1, 2, 3].map((c) => (c === y ? 1 : 0)));

Deno.test("BalPoE's loss: the experts' mean of CE(f_e + lambda_e log(p_s + 1e-9))", () => {
  const live = liveTensors();
  const logPrior = PRIOR.map((p) => Math.log(p + 1e-9));
  const expert = (e: number) => EXPERTS.map((r) => r.slice(4 * e, 4 * e + 4));
  for (const lambdas of [[0, 1, 2], [-1, 1, 3], [0, 1.25, 2.5]]) {
    const want = lambdas.reduce(
      (s, l, e) => s + softCE(expert(e), oneHot(LABELS), logPrior.map((x) => l * x)),
      0,
    ) / 3;
    close(
      value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR, lambdas)),
      want,
      1e-12,
      `lambdas ${lambdas}`,
    );
    // The registry's loss is the same, its lambdas given by name.
    using loss = createLoss("balpoe", { trainCounts: COUNTS, expertLambdas: lambdas });
    close(
      value(() => loss(logits(EXPERTS), labelsOf(LABELS), { epoch: 0, epochs: 1 })),
      want,
      1e-6,
    );
  }
  // Default lambdas 0, 1, 2: expert 1 plain softmax, expert 2 balanced softmax.
  close(
    value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR)),
    value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR, [0, 1, 2])),
  );
  assert.equal(liveTensors(), live);
});

Deno.test("BalPoE's lambdas: one per expert of the network, finite", () => {
  assert.throws(
    () => createLoss("balpoe", { trainCounts: COUNTS, expertLambdas: [0, 1] }),
    (e: unknown) => e instanceof InputError && e.parameter === "expertLambdas",
  );
  assert.throws(
    () => value(() => balpoeLoss(logits(EXPERTS), labelsOf(LABELS), PRIOR, [0, NaN, 2])),
    (e: unknown) => e instanceof InputError && e.parameter === "expertLambdas",
  );
  // Logits of another width than the lambdas' experts.
  assert.throws(
    () => value(() => balpoeLoss(logits(ROWS), labelsOf(LABELS), PRIOR, [0, 1, 2])),
    (e: unknown) => e instanceof InputError && e.parameter === "logits",
  );
});

Deno.test("a product of experts predicts with the experts' mean; SADE keeps every expert", () => {
  assert.equal(predictionExperts("balpoe"), 1);
  assert.equal(predictionExperts("sade"), 3);
  assert.equal(predictionExperts("lade"), 1);
  const got = scope(() => combineExperts(logits(EXPERTS), "balpoe").toArray() as Float64Array);
  // (r - r + 2r) / 3 = 2r / 3.
  ROWS.flat().forEach((x, i) => close(got[i], (2 * x) / 3, 1e-12));
  const same = scope(() => combineExperts(logits(EXPERTS), "sade").toArray() as Float64Array);
  assert.deepEqual(Array.from(same), EXPERTS.flat());
});
