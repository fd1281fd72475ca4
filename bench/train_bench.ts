/**
 * Training throughput (images per second) of lade against a PyTorch loop on
 * the same network (bench/nets.py mirrors the native ones), batch, optimiser
 * and threads, in the same run: (a) the default model (cnn28, 1x28x28) and
 * (b) ResNet-32 (3x32x32), batches of 128, SGD momentum 0.9 and weight decay
 * 5e-4, softmax cross-entropy, random batches prepared before timing.
 *
 * lade runs as `lade train` runs (a worker process started as lade's entry
 * starts: its default allocator); the reference is channels-last PyTorch
 * under each of glibc as it comes, glibc with lade's thresholds, tcmalloc
 * and jemalloc, and the fastest of them is compared with (target: lade at
 * least 1.05x). Every process alternates with the others over `--rounds`
 * rounds (bench/reference.ts) and the medians are compared.
 *
 * usage: deno run -A bench/train_bench.ts [--threads N] [--batch B] [--steps S] [--repeats R]
 *          [--models cnn28,resnet32] [--rounds 3] [--lade-only] [--json]
 * The reference needs /usr/bin/python3 with python3-torch (LADE_BENCH_PYTHON overrides).
 * `--worker` (with one model) is lade's side: it prints its samples as JSON.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import {
  alternate,
  fastest,
  inputShape,
  ladeRun,
  medians,
  printSeries,
  printTable,
  type Series,
  type ThroughputRow,
  timeSteps,
  torchRun,
} from "./reference.ts";
import { TORCH_VARIANTS, variantAvailable, variantLabel } from "./allocators.ts";
import { allocatorLabel, startWithAllocator } from "../lib/torch/allocator.ts";
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
    repeats: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    models: { type: "string", default: "cnn28,resnet32" },
    "image-size": { type: "string" },
    "lade-only": { type: "boolean", default: false },
    worker: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const threads = Number(values.threads);
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const repeats = Number(values.repeats);
const rounds = Number(values.rounds);

/** lade: the trainer's step (forward, loss, backward, SGD step, loss.item()) on prepared batches. */
function ladeRates(arch: Architecture): number[] {
  setNumThreads(threads);
  manualSeed(0);
  const size = values["image-size"] ? Number(values["image-size"]) : undefined;
  const shape = inputShape(arch, size);
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

if (values.worker) {
  // Started as lade's entry starts: the same allocator set-up.
  startWithAllocator();
  const rates = ladeRates(values.models as Architecture);
  console.log(JSON.stringify({ rates, allocator: allocatorLabel() }));
  Deno.exit(0);
}

const results: ThroughputRow[] = [];
for (const arch of values.models.split(",") as Architecture[]) {
  const args = ["--threads", String(threads), "--batch", String(batch)];
  args.push("--steps", String(steps), "--warmup", String(warmup), "--repeats", String(repeats));
  const size = values["image-size"] ? ["--image-size", values["image-size"]] : [];
  const lade: Series = {
    key: "lade",
    run: () => ladeRun("train_bench.ts", [...args, ...size, "--models", arch]),
  };
  if (values["lade-only"]) {
    const s = await alternate([lade], rounds);
    const r = s.get("lade")!;
    console.log(
      `${arch}: lade ${median(r.rates).toFixed(1)} img/s (${r.note}; ${r.rates.map(Math.round)})`,
    );
    continue;
  }
  const torch: Series[] = TORCH_VARIANTS.filter(variantAvailable).map((v) => ({
    key: `cl/${v}`,
    run: () => torchRun("train_bench.py", ["--model", arch, ...args], v),
  }));
  const samples = await alternate([lade, ...torch], rounds);
  const m = medians(samples);
  const best = fastest(m, "cl/");
  results.push({
    model: arch,
    batch,
    threads,
    lade: { allocator: samples.get("lade")!.note, images_per_sec: m.lade },
    series: m,
    references: [{
      name: "PyTorch CL (best)",
      allocator: variantLabel(best.key as never),
      images_per_sec: best.images_per_sec,
      ratio: m.lade / best.images_per_sec,
    }],
    pytorch_glibc: m["cl/glibc"],
    pytorch: samples.get("cl/glibc")!.note,
  });
}
if (values.json) {
  console.log(JSON.stringify(results, null, 1));
} else if (results.length > 0) {
  printTable(
    `training throughput, batch ${batch}, ${threads} thread(s), medians of ${rounds} rounds x ${repeats} x ${steps} steps (PyTorch ${
      results[0].pytorch
    } channels-last)`,
    results,
    [1.05],
  );
  printSeries(results);
}
