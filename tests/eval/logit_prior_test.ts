/**
 * The prior a classifier was effectively trained under: the class prior of
 * a sampler's batches, and what a method's loss makes of it (values by hand).
 */
import assert from "node:assert/strict";
import { samplerPrior } from "../../lib/data/sampler.ts";
import { logitPriorOf } from "../../lib/eval/rules.ts";
import { runLogitPrior } from "../../lib/eval/logit_prior.ts";

Deno.test("the sampler's class prior and the prior a method's logits are calibrated to", () => {
  const counts = [16, 4, 1];
  assert.deepEqual(samplerPrior("shuffle", counts), [16 / 21, 4 / 21, 1 / 21]);
  assert.deepEqual(samplerPrior("balanced", counts), [1 / 3, 1 / 3, 1 / 3]);
  assert.deepEqual(samplerPrior("sqrt", counts), [4 / 7, 2 / 7, 1 / 7]);
  // Softmax on balanced batches (cRT): uniform. LADE-like (f + log p_s) on
  // shuffled batches: uniform; on balanced batches: proportional to 1 / p_s.
  assert.deepEqual(logitPriorOf("softmax", counts, samplerPrior("balanced", counts)), [
    1 / 3,
    1 / 3,
    1 / 3,
  ]);
  const close = (a: number[], b: number[]) =>
    a.forEach((v, c) => assert.ok(Math.abs(v - b[c]) < 1e-12, `${a} vs ${b}`));
  close(logitPriorOf("lade", counts), [1 / 3, 1 / 3, 1 / 3]);
  close(logitPriorOf("prior-ce", counts, samplerPrior("balanced", counts)), [
    1 / 21,
    4 / 21,
    16 / 21,
  ]);
  close(logitPriorOf("softmax", counts, samplerPrior("sqrt", counts)), [4 / 7, 2 / 7, 1 / 7]);
  // A second stage is uniform whatever the method.
  const config = { method: { name: "softmax" }, train: { sampler: "shuffle" as const } };
  close(runLogitPrior(config, counts), [16 / 21, 4 / 21, 1 / 21]);
  close(runLogitPrior({ ...config, stage2: { method: "lws" } }, counts), [1 / 3, 1 / 3, 1 / 3]);
});
