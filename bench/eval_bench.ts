/**
 * Evaluation throughput (images per second) of lade against PyTorch on the
 * same network (bench/nets.py mirrors the native ones) and threads, in the
 * same run: the default model (cnn28, 1x28x28) and ResNet-32 (3x32x32) in
 * eval mode, batches of 1024 random images prepared before timing, as
 * lib/predict/logits.ts runs them (eval mode, gradients off).
 *
 * The reference is channels-last PyTorch under torch.inference_mode() (its
 * best eager configuration on the CPU); lade and it run alternately, twice
 * each, and the medians are compared (target: ratio at least 1.25). Plain
 * NCHW PyTorch runs once per model for context. Both models have batch-norm
 * statistics from two batches first, so eval mode is not the identity.
 *
 * usage: deno run -A bench/eval_bench.ts [--threads N] [--batch B] [--steps S] [--repeats R]
 *          [--models cnn28,resnet32] [--rounds 2] [--nchw-runs 1] [--lade-only] [--json]
 * The reference needs /usr/bin/python3 with python3-torch (LADE_BENCH_PYTHON overrides).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import { compareWithTorch, printTable, type ThroughputRow, timeSteps } from "./reference.ts";
import { type Architecture, Model } from "../lib/models/model.ts";
import { manualSeed, setNumThreads } from "../lib/torch/device.ts";
import { noGrad, randn } from "../lib/torch/create.ts";
import { scope } from "../lib/torch/memory.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threads: { type: "string", default: String(navigator.hardwareConcurrency) },
    batch: { type: "string", default: "1024" },
    steps: { type: "string", default: "2" },
    warmup: { type: "string", default: "1" },
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

/** lade: eval-mode logits of prepared batches with gradients off, as predictLogits. */
function ladeRates(arch: Architecture): number[] {
  setNumThreads(threads);
  manualSeed(0);
  const shape = arch === "cnn28" ? [1, 28, 28] : [3, 32, 32];
  using model = Model.create({ arch, classes: 10, inChannels: shape[0] });
  // Batch-norm statistics from two batches (train mode, no gradients), as the reference.
  for (let i = 0; i < 2; i++) scope(() => noGrad(() => model.forward(randn([64, ...shape]))));
  model.eval();
  const batches = Array.from({ length: 2 }, () => randn([batch, ...shape]));
  const step = (i: number) =>
    scope(() => noGrad(() => model.forward(batches[i % batches.length]).to("cpu", "float32")));
  const rates = timeSteps(step, { batch, warmup, repeats, steps });
  for (const x of batches) x.dispose();
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
    await compareWithTorch(arch, "eval_bench.py", args, () => ladeRates(arch), {
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
    `evaluation throughput (eval mode, no gradients; PyTorch under inference_mode), batch ${batch}, ${threads} thread(s), medians of ${
      rounds * repeats
    } x ${steps} batches`,
    results,
    1.25,
  );
}
