/**
 * GPU training throughput of lade against PyTorch at its best, in the same
 * run on the same GPU: CIFAR-100-LT-shaped data (10,847 long-tailed 3x32x32
 * images, 100 classes; random pixels) and the Fashion-MNIST-LT-shaped
 * default (1x28x28, 10 classes), batch 128, the LADE loss, SGD momentum 0.9
 * and weight decay 5e-4, bf16, channels-last, augmentation included (random
 * crop and flip on the GPU in both).
 *
 * lade: the trainer's resident batches and TrainStep, eager and with CUDA
 * graphs. PyTorch (bench/cuda_train_bench.py): eager with fused SGD, and the
 * whole step captured with torch.cuda.graph. Prints medians and ratios:
 * lade with graphs against PyTorch eager (target >= 2) and against PyTorch's
 * graphs (target >= 0.9), and the projected time of the 200-epoch
 * CIFAR-100-LT recipe (target <= 60 s).
 *
 * usage: deno run -A bench/cuda_train_bench.ts [--models resnet32-2branch,cnn28]
 *          [--steps 50] [--repeats 5] [--python python3] [--json] [--out FILE]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
import { BatchLoader } from "../lib/data/batch_loader.ts";
import { TensorImageSet } from "../lib/data/image_set.ts";
import { longTailCounts } from "../lib/data/long_tail.ts";
import { createLoss } from "../lib/losses/mod.ts";
import { type Architecture, Model } from "../lib/models/model.ts";
import { tensor } from "../lib/torch/create.ts";
import { cudaDeviceInfo, setCudnnBenchmark, useSideStream } from "../lib/torch/cuda.ts";
import { cudaAvailable, manualSeed } from "../lib/torch/device.ts";
import { SGD } from "../lib/train/optimizer.ts";
import { TrainStep } from "../lib/train/step.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "resnet32-2branch,cnn28" },
    batch: { type: "string", default: "128" },
    steps: { type: "string", default: "50" },
    warmup: { type: "string", default: "5" },
    repeats: { type: "string", default: "5" },
    python: { type: "string", default: "python3" },
    json: { type: "boolean", default: false },
    out: { type: "string" },
    // cpu: only lade's eager fp32 steps, to check this script where no GPU is.
    device: { type: "string", default: "cuda:0" },
  },
});
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const repeats = Number(values.repeats);
const DEV = values.device as "cuda:0" | "cpu";
const GPU = DEV !== "cpu";

/**
 * How bench/cuda_train_bench.py builds the same network as lade's native one
 * (native/src/model_resnet_cifar.cpp: which shortcut ResNet-32 uses).
 */
const PYTHON_ARCH: Record<string, string[]> = {
  "resnet32": ["--arch", "resnet32", "--shortcut", RESNET32_SHORTCUT()],
  "resnet32-2branch": ["--arch", "resnet32-2branch", "--shortcut", RESNET32_SHORTCUT()],
  "cnn28": ["--arch", "cnn28"],
};

/** The shortcut of lade's ResNet-32: A (parameter-free) or B (1x1 projection). */
function RESNET32_SHORTCUT(): string {
  const source = Deno.readTextFileSync(
    new URL("../native/src/model_resnet_cifar.cpp", import.meta.url),
  );
  return /option A|option-A|zero-pad/i.test(source.split("\n").slice(0, 20).join("\n")) ? "A" : "B";
}

interface Shape {
  classes: number;
  channels: number;
  size: number;
  counts: number[];
}

function shapeOf(arch: string): Shape {
  return arch === "cnn28"
    ? { classes: 10, channels: 1, size: 28, counts: longTailCounts(6000, 10, 100) }
    : { classes: 100, channels: 3, size: 32, counts: longTailCounts(500, 100, 100) };
}

/** lade's images/s for each repeat, eager or with CUDA graphs. */
async function ladeRates(arch: Architecture, graphs: boolean): Promise<number[]> {
  const s = shapeOf(arch);
  const n = s.counts.reduce((a, b) => a + b, 0);
  const labels = new Int32Array(n);
  let k = 0;
  s.counts.forEach((c, cls) => labels.fill(cls, k, k += c));
  const pixels = new Uint8Array(n * s.channels * s.size * s.size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  using set = new TensorImageSet(tensor(pixels, [n, s.channels, s.size, s.size]), labels);
  const norm = { mean: Array(s.channels).fill(0.45), std: Array(s.channels).fill(0.25) };
  manualSeed(0);
  using model = Model.create({ arch, classes: s.classes, inChannels: s.channels, device: DEV });
  model.precision = GPU ? "bf16" : "fp32";
  using opt = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  using loss = createLoss("lade", { trainCounts: s.counts, alpha: 0.1, lambda: 0.01, device: DEV });
  using loader = new BatchLoader(set, norm, {
    batchSize: batch,
    train: true,
    device: DEV,
    seed: 0,
    dropLast: true,
  });
  if (GPU) useSideStream(DEV, true), setCudnnBenchmark(true);
  try {
    using step = new TrainStep({ model, optimizer: opt, loss, device: DEV, cudaGraphs: graphs });
    let epoch = 0;
    const run = async (count: number) => {
      let done = 0;
      while (done < count) {
        for await (const b of loader.epoch(epoch)) {
          step.run(b.images, b.labels, { epoch: 0, epochs: 1 });
          b.dispose();
          if (++done === count) break;
        }
        epoch++;
      }
      step.sums.read(); // waits for the device
    };
    await run(warmup);
    const rates: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t = performance.now();
      await run(steps);
      rates.push((steps * batch) / ((performance.now() - t) / 1000));
    }
    if (graphs && GPU && !step.graphed) throw new Error("the step was not captured");
    return rates;
  } finally {
    if (GPU) useSideStream(DEV, false);
  }
}

/** PyTorch's images/s per repeat: {eager, graphs}. */
async function torchRates(
  arch: string,
): Promise<{ eager: number[]; graphs: number[]; info: string }> {
  const script = new URL("./cuda_train_bench.py", import.meta.url).pathname;
  const out = await new Deno.Command(values.python, {
    args: [
      script,
      ...PYTHON_ARCH[arch],
      "--batch",
      String(batch),
      "--steps",
      String(steps),
      "--warmup",
      String(warmup),
      "--repeats",
      String(repeats),
    ],
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONUNBUFFERED: "1" },
  }).output();
  if (!out.success) {
    throw new Error(
      `the PyTorch reference failed: ${
        new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ")
      }`,
    );
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { eager: r.eager, graphs: r.graphs, info: `${r.torch}, ${r.sgd} SGD` };
}

if (!GPU) {
  for (const arch of values.models.split(",") as Architecture[]) {
    const r = median(await ladeRates(arch, false));
    console.log(
      `${arch}: lade eager fp32 on the CPU ${r.toFixed(0)} img/s (a check of this script)`,
    );
  }
  Deno.exit(0);
}
if (!cudaAvailable()) {
  console.error("cuda_train_bench: no CUDA device here; nothing to measure");
  Deno.exit(0);
}
const device = cudaDeviceInfo(0).name;
const results = [];
for (const arch of values.models.split(",") as Architecture[]) {
  const torch = await torchRates(arch);
  const eager = median(await ladeRates(arch, false));
  const graphs = median(await ladeRates(arch, true));
  const torchEager = median(torch.eager);
  const torchGraphs = median(torch.graphs);
  const n = shapeOf(arch).counts.reduce((a, b) => a + b, 0);
  results.push({
    model: arch,
    batch,
    device,
    pytorch: torch.info,
    lade_eager: eager,
    lade_graphs: graphs,
    pytorch_eager: torchEager,
    pytorch_graphs: torchGraphs,
    lade_graphs_over_pytorch_eager: graphs / torchEager,
    lade_graphs_over_pytorch_graphs: graphs / torchGraphs,
    lade_eager_over_pytorch_eager: eager / torchEager,
    projected_200_epochs_s: (200 * n) / graphs,
  });
}
const text = JSON.stringify(results, null, 1);
if (values.out) Deno.writeTextFileSync(values.out, text + "\n");
if (values.json) {
  console.log(text);
} else {
  console.log(`GPU training images/s (${device}), batch ${batch}, bf16, medians of ${repeats}`);
  for (const r of results) {
    console.log(
      `${r.model}: lade eager ${r.lade_eager.toFixed(0)}, graphs ${r.lade_graphs.toFixed(0)}; ` +
        `PyTorch eager ${r.pytorch_eager.toFixed(0)}, graphs ${r.pytorch_graphs.toFixed(0)}; ` +
        `lade graphs / PyTorch eager ${r.lade_graphs_over_pytorch_eager.toFixed(2)}, ` +
        `/ PyTorch graphs ${r.lade_graphs_over_pytorch_graphs.toFixed(2)}; ` +
        `200 epochs ${r.projected_200_epochs_s.toFixed(0)} s`,
    );
  }
}
