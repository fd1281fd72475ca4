/**
 * Evaluation throughput (images per second) of lade against PyTorch on the
 * same network (bench/nets.py mirrors the native ones) and threads, in the
 * same run: the default model (cnn28, 1x28x28) and ResNet-32 (3x32x32) in
 * eval mode, batches of 1024 random images prepared before timing, as
 * lib/predict/logits.ts runs them (eval mode, gradients off), each batch's
 * logits computed in full.
 *
 * lade runs as `lade evaluate` runs (a worker process started as lade's
 * entry starts: its default allocator). Two references, each under glibc
 * as it comes, glibc with lade's thresholds, tcmalloc and jemalloc, the
 * fastest taken: eager channels-last PyTorch under torch.inference_mode()
 * (target: lade at least 1.25x), and PyTorch's own inference path, traced,
 * frozen and optimized for inference (target: at least 1.0x). Every process
 * alternates with the others over `--rounds` rounds (bench/reference.ts).
 * Both models have batch-norm statistics from two batches first, so eval
 * mode is not the identity.
 *
 * usage: deno run -A bench/eval_bench.ts [--threads N] [--batch B] [--steps S] [--warmup 3] [--repeats R]
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
    // Three passes before timing, for every side: oneDNN's primitives and
    // TorchScript's profiling executor both settle over the first few.
    warmup: { type: "string", default: "3" },
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

/** lade: eval-mode logits of prepared batches with gradients off, as predictLogits. */
function ladeRates(arch: Architecture): number[] {
  setNumThreads(threads);
  manualSeed(0);
  const size = values["image-size"] ? Number(values["image-size"]) : undefined;
  const shape = inputShape(arch, size);
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
    run: () => ladeRun("eval_bench.ts", [...args, ...size, "--models", arch]),
  };
  if (values["lade-only"]) {
    const s = await alternate([lade], rounds);
    const r = s.get("lade")!;
    console.log(
      `${arch}: lade ${median(r.rates).toFixed(1)} img/s (${r.note}; ${r.rates.map(Math.round)})`,
    );
    continue;
  }
  const torch: Series[] = TORCH_VARIANTS.filter(variantAvailable).flatMap((v) =>
    (["eager", "frozen"] as const).map((mode) => ({
      key: `${mode}/${v}`,
      run: () => torchRun("eval_bench.py", ["--model", arch, "--mode", mode, ...args], v),
    }))
  );
  const samples = await alternate([lade, ...torch], rounds);
  const m = medians(samples);
  const eager = fastest(m, "eager/");
  const frozen = fastest(m, "frozen/");
  results.push({
    model: arch,
    batch,
    threads,
    lade: { allocator: samples.get("lade")!.note, images_per_sec: m.lade },
    series: m,
    references: [
      {
        name: "PyTorch CL eager (best)",
        allocator: variantLabel(eager.key as never),
        images_per_sec: eager.images_per_sec,
        ratio: m.lade / eager.images_per_sec,
      },
      {
        name: "PyTorch frozen (best)",
        allocator: variantLabel(frozen.key as never),
        images_per_sec: frozen.images_per_sec,
        ratio: m.lade / frozen.images_per_sec,
      },
    ],
    pytorch_glibc: m["eager/glibc"],
    pytorch: samples.get("eager/glibc")!.note,
  });
}
if (values.json) {
  console.log(JSON.stringify(results, null, 1));
} else if (results.length > 0) {
  printTable(
    `evaluation throughput (eval mode, no gradients; PyTorch under inference_mode), batch ${batch}, ${threads} thread(s), medians of ${rounds} rounds x ${repeats} x ${steps} batches (PyTorch ${
      results[0].pytorch
    })`,
    results,
    [1.25, 1.0],
  );
  printSeries(results);
}
