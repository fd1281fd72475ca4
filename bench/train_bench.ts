/**
 * Training throughput (images per second) of lade against a plain PyTorch
 * loop on the same network, batch, optimiser and threads, in the same run:
 * (a) the default model (cnn28, 1x28x28) and (b) ResNet-32 (3x32x32), batches
 * of 128, SGD momentum 0.9 and weight decay 5e-4, softmax cross-entropy,
 * random batches prepared before timing. Prints both medians and the ratio
 * (lade / PyTorch; the target is at least 1.0).
 *
 * usage: deno run -A bench/train_bench.ts [--threads N] [--steps S] [--repeats R] [--json]
 * The reference needs /usr/bin/python3 with python3-torch.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { median } from "./python.ts";
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
    warmup: { type: "string", default: "3" },
    repeats: { type: "string", default: "5" },
    models: { type: "string", default: "cnn28,resnet32" },
    python: { type: "string", default: "/usr/bin/python3" },
    json: { type: "boolean", default: false },
  },
});
const threads = Number(values.threads);
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const repeats = Number(values.repeats);

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
  for (let i = 0; i < warmup; i++) step(i);
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < steps; i++) step(i);
    rates.push((steps * batch) / ((performance.now() - t) / 1000));
  }
  for (const [x, y] of batches) {
    x.dispose();
    y.dispose();
  }
  return rates;
}

/** The plain PyTorch loop of bench/train_bench.py. */
async function torchRates(arch: string): Promise<{ rates: number[]; version: string }> {
  const script = new URL("./train_bench.py", import.meta.url).pathname;
  const out = await new Deno.Command(values.python, {
    args: [
      script,
      "--model",
      arch,
      "--threads",
      String(threads),
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
  }).output();
  if (!out.success) {
    throw new Error(
      `the PyTorch reference failed (install python3-torch?): ${
        new TextDecoder().decode(out.stderr).trim().split("\n").pop()
      }`,
    );
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  return { rates: r.rates, version: r.torch };
}

const results = [];
for (const arch of values.models.split(",") as Architecture[]) {
  // Alternate the two so that load from other processes hits both alike.
  const torch1 = await torchRates(arch);
  const lade1 = ladeRates(arch);
  const torch2 = await torchRates(arch);
  const lade2 = ladeRates(arch);
  const lade = median([...lade1, ...lade2]);
  const torch = median([...torch1.rates, ...torch2.rates]);
  results.push({
    model: arch,
    batch,
    threads,
    lade_images_per_sec: lade,
    pytorch_images_per_sec: torch,
    ratio: lade / torch,
    pytorch: torch1.version,
  });
}
if (values.json) {
  console.log(JSON.stringify(results, null, 1));
} else {
  console.log(
    `training throughput, batch ${batch}, ${threads} thread(s), medians of ${
      2 * repeats
    } x ${steps} steps`,
  );
  console.log(
    `${"model".padEnd(10)}${"lade img/s".padStart(12)}${"PyTorch img/s".padStart(15)}${
      "ratio".padStart(8)
    }`,
  );
  for (const r of results) {
    console.log(
      `${r.model.padEnd(10)}${r.lade_images_per_sec.toFixed(1).padStart(12)}${
        r.pytorch_images_per_sec.toFixed(1).padStart(15)
      }${r.ratio.toFixed(2).padStart(8)}`,
    );
  }
}
