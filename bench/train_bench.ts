/**
 * Training throughput (images per second) of lade against a PyTorch loop on
 * the same network (bench/nets.py mirrors the native ones), batch, optimiser
 * and threads, in the same run: (a) the default model (cnn28, 1x28x28) and
 * (b) ResNet-32 (3x32x32), batches of 128, SGD momentum 0.9 and weight decay
 * 5e-4, softmax cross-entropy, random batches prepared before timing.
 *
 * The reference is channels-last PyTorch (its best eager configuration on the
 * CPU, and lade's layout); lade and it run alternately, twice each, and the
 * medians are compared (target: ratio at least 1.0). Plain NCHW PyTorch runs
 * once per model for context.
 *
 * usage: deno run -A bench/train_bench.ts [--threads N] [--batch B] [--steps S] [--repeats R]
 *          [--models cnn28,resnet32] [--rounds 2] [--nchw-runs 1] [--lade-only] [--json]
 * The reference needs /usr/bin/python3 with python3-torch (LADE_BENCH_PYTHON overrides).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import { compareWithTorch, printTable, type ThroughputRow, timeSteps } from "./reference.ts";
import { createLoss } from "../lib/losses/mod.ts";
import { type Architecture, Model } from "../lib/models/model.ts";
import { SGD } from "../lib/train/optimizer.ts";
import { manualSeed, setNumThreads } from "../lib/torch/device.ts";
import { randint, randn } from "../lib/torch/create.ts";
import { scope } from "../lib/torch/memory.ts";
import type { Tensor } from "../lib/torch/tensor.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    batch: { type: "string", default: "128" },
    steps: { type: "string", default: "10" },
    warmup: { type: "string", default: "5" },
    repeats: { type: "string", default: "5" },
    rounds: { type: "string", default: "2" },
    "nchw-runs": { type: "string", default: "1" },
    models: { type: "string", default: "cnn28,resnet32" },
    "lade-only": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const threads = Number(values.threads);
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const repeats = Number(values.repeats);
const rounds = Number(values.rounds);
const nchwRuns = Number(values["nchw-runs"]);

/** lade: the trainer's step (forward, loss, backward, SGD step, loss.item()) on prepared batches. */
function ladeRates(arch: Architecture): number[] {
  setNumThreads(threads);
  manualSeed(0);
  const shape = arch === "cnn28" ? [1, 28, 28] : [3, 32, 32];
  using model = Model.create({ arch, classes: 10, inChannels: shape[0] });
  using opt = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const loss = createLoss("softmax", { trainCounts: new Array(10).fill(1) });
  const batches: [Tensor, Tensor][] = Array.from(
    { length: 4 },
    () => [randn([batch, ...shape]), randint(0, 10, [batch])],
  );
  const step = (i: number) =>
    scope(() => {
      const [x, y] = batches[i % batches.length];
      opt.zeroGrad();
      const l = loss(model.forward(x), y, { epoch: 0, epochs: 1 });
      l.backward();
      opt.step();
      return l.item();
    });
  const rates = timeSteps(step, { batch, warmup, repeats, steps });
  for (const [x, y] of batches) {
    x.dispose();
    y.dispose();
  }
  return rates;
}

const results: ThroughputRow[] = [];
for (const arch of values.models.split(",") as Architecture[]) {
  const args = ["--model", arch, "--threads", String(threads), "--batch", String(batch)];
  args.push("--steps", String(steps), "--warmup", String(warmup), "--repeats", String(repeats));
  if (values["lade-only"]) {
    const lade = ladeRates(arch);
    console.log(`${arch}: lade ${median(lade).toFixed(1)} img/s (${lade.map(Math.round)})`);
    continue;
  }
  results.push(
    await compareWithTorch(arch, "train_bench.py", args, () => ladeRates(arch), {
      rounds,
      nchwRuns,
      batch,
      threads,
    }),
  );
}
if (values.json) {
  console.log(JSON.stringify(results, null, 1));
} else if (results.length > 0) {
  printTable(
    `training throughput, batch ${batch}, ${threads} thread(s), medians of ${
      rounds * repeats
    } x ${steps} steps`,
    results,
    1,
  );
}
