/**
 * Two ranks on Gloo over loopback: collective values, and the LADE loss of
 * the gathered global batch with its gradients against one process on the
 * same global batch.
 */
import assert from "node:assert/strict";
import { shareRange } from "../../lib/distributed/shard.ts";
import { ladeLoss } from "../../lib/losses/lade.ts";
import { noGrad, tensor } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import {
  CLASSES,
  errorLines,
  FEATURES,
  globalBatch,
  initialWeights,
  LADE_OPTIONS,
  launchScript,
  LR,
  PRIOR,
  rows,
  STEPS,
} from "./fixture.ts";

/** One process, the whole global batch: losses, the first gradient and logit gradient, final weights. */
function singleProcess(batch: number) {
  const weights = tensor(initialWeights(), [FEATURES, CLASSES], "float64");
  weights.requiresGrad = true;
  const losses: number[] = [];
  let firstGrad: number[] = [], firstLogitGrad: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    scope(() => {
      const { x, y } = rows(globalBatch(batch, step), 0, batch);
      if (step === 0) {
        const leaf = x.matmul(weights.detach()).detach();
        leaf.requiresGrad = true;
        ladeLoss(leaf, y, PRIOR, LADE_OPTIONS).backward();
        firstLogitGrad = leaf.grad!.toList();
      }
      const loss = ladeLoss(x.matmul(weights), y, PRIOR, LADE_OPTIONS);
      losses.push(loss.item());
      loss.backward();
      const grad = weights.grad!;
      if (step === 0) firstGrad = grad.flatten().toList();
      noGrad(() => weights.copy_(weights.sub(grad.mul(LR))));
      weights.grad = null;
    });
  }
  const result = { losses, firstGrad, firstLogitGrad, weights: weights.detach().toList() };
  weights.dispose();
  return result;
}

function assertClose(actual: number[], expected: number[], what: string, rtol = 1e-9) {
  assert.equal(actual.length, expected.length, what);
  const scale = Math.max(...expected.map(Math.abs), 1e-12);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(
      err <= rtol * Math.max(Math.abs(expected[i]), scale * 1e-3),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

for (const batch of [8, 7]) {
  Deno.test(`2 ranks: collectives, and LADE of the gathered batch of ${batch} equals one process`, async () => {
    const out = await Deno.makeTempDir({ prefix: "lade-dist-" });
    try {
      const result = await launchScript("rank_collectives.ts", 2, [out, String(batch)]);
      for (const r of result.ranks) {
        assert.equal(r.code, 0, `rank ${r.rank}: ${errorLines(r.stderr).join(" | ")}`);
      }
      assert.ok(result.success);
      const want = singleProcess(batch);
      for (let rank = 0; rank < 2; rank++) {
        const got = JSON.parse(await Deno.readTextFile(`${out}/rank${rank}.json`));
        // The loss of the global batch, at every step (the same weights on every rank).
        assertClose(got.losses, want.losses, `rank ${rank} loss`);
        // Summed over ranks, the parameter gradient is the single-process one.
        assertClose(got.firstGrad, want.firstGrad, `rank ${rank} weight gradient`);
        assertClose(got.weights, want.weights, `rank ${rank} weights after ${STEPS} steps`);
        // Each rank's logits receive their own rows of dL/dlogits.
        const { start, length } = shareRange(batch, rank, 2);
        assertClose(
          got.firstLogitGrad,
          want.firstLogitGrad.slice(start * CLASSES, (start + length) * CLASSES),
          `rank ${rank} logit gradient`,
        );
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}
