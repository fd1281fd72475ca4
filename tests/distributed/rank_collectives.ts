/**
 * One rank of tests/distributed/collectives_test.ts: all-reduce (sum, average, in
 * buckets), all-gather (equal and unequal sizes, int64), broadcast, barrier,
 * then SGD steps of a linear classifier under the LADE loss of the gathered
 * global batch. Writes what it computed to OUT/rank<R>.json.
 */
import assert from "node:assert/strict";
import { allGatherBatch, allReduceGradients } from "../../lib/distributed/collectives.ts";
import { parseRankEnv } from "../../lib/distributed/env.ts";
import { watchLauncher } from "../../lib/distributed/launcher.ts";
import { ProcessGroup } from "../../lib/distributed/process_group.ts";
import { shareRange, shareSizes } from "../../lib/distributed/shard.ts";
import { ladeLoss } from "../../lib/losses/lade.ts";
import { arange, noGrad, tensor, zeros } from "../../lib/torch/create.ts";
import { scope } from "../../lib/torch/memory.ts";
import {
  CLASSES,
  FEATURES,
  globalBatch,
  initialWeights,
  LADE_OPTIONS,
  LR,
  PRIOR,
  rows,
  STEPS,
} from "./fixture.ts";

const [out, batchText] = Deno.args;
try {
  watchLauncher();
  const env = parseRankEnv()!;
  const { rank, worldSize: w } = env;
  using pg = ProcessGroup.create({ backend: "gloo", ...env, timeoutSeconds: 20 });

  // All-reduce of a flat buffer in 64-byte buckets (17 float32 values: 5 buckets).
  scope(() => {
    const n = 67;
    const flat = arange(0, n).mul(rank + 1).to("float32");
    pg.allReduce(flat, { op: "sum", bucketBytes: 64 });
    const triangle = (w * (w + 1)) / 2;
    assert.deepEqual(flat.toList(), Array.from({ length: n }, (_, i) => i * triangle));
    const avg = arange(0, n).mul(rank + 1).to("float32");
    pg.allReduce(avg, { op: "avg" });
    assert.deepEqual(avg.toList(), Array.from({ length: n }, (_, i) => (i * triangle) / w));
    assert.throws(() => pg.allReduce(zeros([2, 2])), /flat \(1-D, contiguous\)/);
  });

  // All-gather: equal sizes, unequal sizes (5 rows over the ranks), int64.
  scope(() => {
    const mine = tensor([rank, rank + 0.5, rank, rank + 0.5], [2, 2]);
    const all = pg.allGather(mine);
    assert.deepEqual(all.shape, [2 * w, 2]);
    assert.deepEqual(
      all.toList(),
      Array.from({ length: w }, (_, r) => [r, r + 0.5, r, r + 0.5]).flat(),
    );
    const sizes = shareSizes(5, w);
    const part = shareRange(5, rank, w);
    const uneven = pg.allGather(arange(part.start, part.start + part.length), sizes);
    assert.deepEqual(uneven.toList(), [0, 1, 2, 3, 4]);
    const labels = pg.allGather(tensor(new BigInt64Array([BigInt(10 + rank)])));
    assert.equal(labels.dtype, "int64");
    assert.deepEqual(labels.toList(), Array.from({ length: w }, (_, r) => 10 + r));
  });

  // Broadcast from rank 0, into a contiguous and a transposed tensor.
  scope(() => {
    const a = rank === 0 ? tensor([1, 2, 3]) : zeros([3]);
    const base = rank === 0 ? tensor([1, 2, 3, 4, 5, 6], [2, 3]) : zeros([2, 3]);
    const b = base.t();
    pg.broadcast([a, b], 0);
    assert.deepEqual(a.toList(), [1, 2, 3]);
    assert.deepEqual(b.contiguous().toList(), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(base.toList(), [1, 2, 3, 4, 5, 6], "the broadcast reached the view's base");
  });
  pg.barrier();

  // LADE on the gathered global batch: SGD steps of a linear classifier.
  const batch = Number(batchText);
  const weights = tensor(initialWeights(), [FEATURES, CLASSES], "float64");
  weights.requiresGrad = true;
  const losses: number[] = [];
  const firstGrad: number[] = [];
  const firstLogitGrad: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    scope(() => {
      const sizes = shareSizes(batch, w);
      const { start, length } = shareRange(batch, rank, w);
      const { x, y } = rows(globalBatch(batch, step), start, length);
      if (step === 0) {
        // The gradient that reaches this rank's logits: its rows of dL/dlogits.
        const leaf = x.matmul(weights.detach()).detach();
        leaf.requiresGrad = true;
        const g = allGatherBatch(pg, leaf, y, sizes);
        ladeLoss(g.logits, g.labels, PRIOR, LADE_OPTIONS).backward();
        firstLogitGrad.push(...leaf.grad!.toList());
      }
      const logits = x.matmul(weights);
      const global = allGatherBatch(pg, logits, y, sizes);
      assert.deepEqual(global.logits.shape, [batch, CLASSES]);
      const loss = ladeLoss(global.logits, global.labels, PRIOR, LADE_OPTIONS);
      losses.push(loss.item());
      loss.backward();
      // The optimiser's flat gradient buffer: here one parameter's gradient.
      const flat = weights.grad!.flatten().contiguous();
      allReduceGradients(pg, flat, { lossOver: "global", bucketBytes: 48 });
      if (step === 0) firstGrad.push(...flat.toList());
      noGrad(() => weights.copy_(weights.sub(flat.reshape(FEATURES, CLASSES).mul(LR))));
      weights.grad = null;
    });
  }
  const result = {
    rank,
    worldSize: w,
    losses,
    firstGrad,
    firstLogitGrad,
    weights: weights.detach().toList(),
  };
  await Deno.writeTextFile(`${out}/rank${rank}.json`, JSON.stringify(result));
} catch (e) {
  console.error(`error: ${(e as Error).message.split("\n")[0]}`);
  Deno.exit(1);
}
