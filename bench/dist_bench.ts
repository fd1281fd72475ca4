/**
 * Data-parallel training on the CPU: 2 ranks x 1 thread (Gloo on loopback)
 * against 1 process x 2 threads, on the same global batches. Both run the
 * trainer's pieces (BatchLoader with augmentation, TrainStep, the LADE loss,
 * flat SGD); the ranks add lib/train/data_parallel.ts (each rank's share of
 * the batch, the gathered global batch for the loss, the summed gradients).
 * Synthetic long-tailed images: cnn28 on 1x28x28 (10 classes) and ResNet-32
 * on 3x32x32 (100 classes), global batch 128.
 *
 * Prints, per model: images per second of both (medians of the repeats), and
 * for the ranks the share of a step spent in the gradient all-reduce and in
 * the gather of logits and labels (medians over steps; both include waiting
 * for the other rank to arrive).
 *
 * usage: deno run -A bench/dist_bench.ts [--models cnn28,resnet32] [--batch 128]
 *          [--steps 10] [--warmup 3] [--repeats 5] [--json]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import { BatchLoader } from "../lib/data/batch_loader.ts";
import { TensorImageSet } from "../lib/data/image_set.ts";
import { longTailCounts } from "../lib/data/long_tail.ts";
import { parseRankEnv } from "../lib/distributed/env.ts";
import { launchLocal } from "../lib/distributed/launcher.ts";
import { createLoss } from "../lib/losses/mod.ts";
import { type Architecture, Model } from "../lib/models/model.ts";
import { tensor } from "../lib/torch/create.ts";
import { manualSeed, setNumThreads } from "../lib/torch/device.ts";
import { DataParallel } from "../lib/train/data_parallel.ts";
import { SGD } from "../lib/train/optimizer.ts";
import { TrainStep } from "../lib/train/step.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "cnn28,resnet32" },
    batch: { type: "string", default: "128" },
    steps: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    repeats: { type: "string", default: "5" },
    ranks: { type: "string", default: "2" },
    json: { type: "boolean", default: false },
    // Internal: run as one rank (started by this script through the launcher).
    worker: { type: "string" },
  },
});
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const repeats = Number(values.repeats);
const ranks = Number(values.ranks);

/** One configuration's measurements. */
interface Timing {
  /** Images per second of each repeat. */
  rates: number[];
  /** Milliseconds of each timed step (rank 0's). */
  stepMs: number[];
  /** Milliseconds of each timed step in the gradient all-reduce / the gather. */
  allReduceMs: number[];
  gatherMs: number[];
  params: number;
}

/** Random long-tailed images of a model's shape (seeded: every rank has the same). */
function dataset(arch: Architecture): { set: TensorImageSet; counts: number[] } {
  const [classes, channels, size] = arch === "cnn28" ? [10, 1, 28] : [100, 3, 32];
  const counts = longTailCounts(arch === "cnn28" ? 600 : 100, classes, 100);
  const labels = Int32Array.from(counts.flatMap((n, c) => new Array(n).fill(c)));
  const pixels = new Uint8Array(labels.length * channels * size * size);
  let s = 1;
  for (let i = 0; i < pixels.length; i++) pixels[i] = (s = (s * 48271) % 2147483647) & 255;
  const set = new TensorImageSet(
    tensor(pixels, [labels.length, channels, size, size]),
    labels,
  );
  return { set, counts };
}

/** Steps of the trainer's pieces, one process or one rank (`dp`). */
async function measure(arch: Architecture, threads: number, dp?: DataParallel): Promise<Timing> {
  setNumThreads(threads);
  manualSeed(0);
  const { set, counts } = dataset(arch);
  using _set = set;
  using model = Model.create({
    arch,
    classes: counts.length,
    inChannels: set.channels,
  });
  using optimizer = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  dp?.broadcastModel(model);
  using loss = createLoss("lade", { trainCounts: counts, alpha: 0.1, lambda: 0.1 });
  const allReduceMs: number[] = [], gatherMs: number[] = [];
  let timing = false;
  const hooks = dp?.stepHooks(optimizer);
  using step = new TrainStep({
    model,
    optimizer,
    loss,
    device: "cpu",
    ...(hooks
      ? {
        gather: (l, y) => {
          const t = performance.now();
          const out = hooks.gather(l, y);
          if (timing) gatherMs.push(performance.now() - t);
          return out;
        },
        afterBackward: () => {
          const t = performance.now();
          hooks.afterBackward();
          if (timing) allReduceMs.push(performance.now() - t);
        },
      }
      : {}),
  });
  const norm = { mean: new Array(set.channels).fill(0.5), std: new Array(set.channels).fill(0.25) };
  using loader = new BatchLoader(set, norm, {
    batchSize: batch,
    train: true,
    device: "cpu",
    seed: 0,
    dropLast: true,
    ...(dp ? { shard: dp.shard() } : {}),
  });
  const needed = warmup + repeats * steps;
  const rates: number[] = [], stepMs: number[] = [];
  let done = 0, epoch = 0, repeatStart = 0;
  while (done < needed) {
    for await (const b of loader.epoch(epoch)) {
      if (done === warmup) {
        timing = true;
        repeatStart = performance.now();
      }
      const t = performance.now();
      step.run(b.images, b.labels, { epoch, epochs: 100 });
      step.sums.read(); // the CPU step is synchronous; this keeps it honest anyway
      b.dispose();
      if (timing) stepMs.push(performance.now() - t);
      done++;
      if (done > warmup && (done - warmup) % steps === 0) {
        const now = performance.now();
        rates.push((steps * batch) / ((now - repeatStart) / 1000));
        repeatStart = now;
      }
      if (done === needed) break;
    }
    epoch++;
  }
  return { rates, stepMs, allReduceMs, gatherMs, params: model.numParams };
}

/** The ranks: this script again, `ranks` times, 1 thread each; rank 0's timing. */
async function measureRanks(arch: Architecture): Promise<Timing> {
  const result = await launchLocal({
    nprocPerNode: ranks,
    command: [Deno.execPath(), "run", "-A", new URL(import.meta.url).pathname],
    args: [
      "--worker",
      arch,
      "--batch",
      String(batch),
      "--steps",
      String(steps),
      "--warmup",
      String(warmup),
      "--repeats",
      String(repeats),
    ],
    stdio: "piped",
  });
  if (!result.success) {
    throw new Error(`${result.message}: ${result.ranks.map((r) => r.stderr).join(" | ")}`);
  }
  return JSON.parse(result.ranks[0].stdout!);
}

if (values.worker !== undefined) {
  const env = parseRankEnv()!;
  using dp = DataParallel.create({ env, backend: "gloo", timeoutSeconds: 120 }, "cpu");
  const t = await measure(values.worker as Architecture, 1, dp);
  if (env.rank === 0) console.log(JSON.stringify(t));
} else {
  const results = [];
  for (const arch of values.models.split(",") as Architecture[]) {
    // Alternate the two so that load from other processes hits both alike.
    const a1 = await measure(arch, ranks);
    const b1 = await measureRanks(arch);
    const a2 = await measure(arch, ranks);
    const b2 = await measureRanks(arch);
    const step = median([...b1.stepMs, ...b2.stepMs]);
    results.push({
      model: arch,
      batch,
      params: a1.params,
      allreduce_bytes: a1.params * 4,
      single_images_per_sec: median([...a1.rates, ...a2.rates]),
      ranks_images_per_sec: median([...b1.rates, ...b2.rates]),
      rank_step_ms: step,
      allreduce_ms: median([...b1.allReduceMs, ...b2.allReduceMs]),
      gather_ms: median([...b1.gatherMs, ...b2.gatherMs]),
    });
  }
  if (values.json) {
    console.log(JSON.stringify(results, null, 1));
  } else {
    console.log(
      `data-parallel on the CPU: ${ranks} ranks x 1 thread (gloo, loopback) against 1 process x ` +
        `${ranks} threads; global batch ${batch}; medians of ${2 * repeats} x ${steps} steps`,
    );
    console.log(
      `${"model".padEnd(10)}${"1 proc img/s".padStart(14)}${"ranks img/s".padStart(13)}` +
        `${"ratio".padStart(7)}${"step ms".padStart(9)}${"all-reduce".padStart(12)}` +
        `${"gather".padStart(9)}${"grad MB".padStart(9)}`,
    );
    for (const r of results) {
      const share = (ms: number) => `${(100 * ms / r.rank_step_ms).toFixed(1)}%`;
      console.log(
        `${r.model.padEnd(10)}${r.single_images_per_sec.toFixed(0).padStart(14)}` +
          `${r.ranks_images_per_sec.toFixed(0).padStart(13)}` +
          `${(r.ranks_images_per_sec / r.single_images_per_sec).toFixed(2).padStart(7)}` +
          `${r.rank_step_ms.toFixed(1).padStart(9)}${share(r.allreduce_ms).padStart(12)}` +
          `${share(r.gather_ms).padStart(9)}${
            (r.allreduce_bytes / 2 ** 20).toFixed(2).padStart(9)
          }`,
      );
    }
  }
}
