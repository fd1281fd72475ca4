/**
 * Data benchmark: how fast batches are prepared (images per second) on the
 * 28-pixel path (Fashion-MNIST-LT in memory: gather, random crop, flip,
 * normalise in one native job) and on the image-list path (generated JPEGs
 * decoded, random-resized-cropped to 224 and normalised on native threads),
 * and what share of a training step waiting for data takes once preparation
 * overlaps with compute. Prints medians.
 *
 * Usage: deno run -A bench/data_bench.ts [--device cpu|cuda:N] [--steps N]
 *
 * @module
 */

import { join } from "node:path";
import { median } from "./python.ts";
import { BatchLoader } from "../lib/data/batch_loader.ts";
import { loadDataset } from "../lib/data/datasets.ts";
import { writeImage } from "../lib/data/image_io.ts";
import { FileImageSet } from "../lib/data/image_set.ts";
import type { ImageSet } from "../lib/data/types.ts";
import { Model } from "../lib/models/model.ts";
import { SGD } from "../lib/train/optimizer.ts";
import { manualSeed, synchronize } from "../lib/torch/device.ts";
import { tensor } from "../lib/torch/create.ts";
import { scope } from "../lib/torch/memory.ts";
import type { Device } from "../lib/torch/device.ts";
import type { Architecture } from "../lib/models/model.ts";

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

const device = flag("--device", "cpu") as Device;
const steps = Number(flag("--steps", "20"));

/** Preparation alone: per-batch intervals while the consumer does nothing. */
async function prepareOnly(loader: BatchLoader, batchSize: number, batches: number) {
  const intervals: number[] = [];
  let epoch = 0, seen = 0;
  const start = performance.now();
  while (seen < batches) {
    let last = performance.now();
    for await (const batch of loader.epoch(epoch)) {
      if (device !== "cpu") synchronize(device);
      batch.dispose();
      const now = performance.now();
      // The first batch of an epoch includes the pipeline filling up.
      if (seen > 0) intervals.push(now - last);
      last = now;
      if (++seen >= batches) break;
    }
    epoch++;
  }
  const total = performance.now() - start;
  return {
    msPerBatch: median(intervals),
    imagesPerSecond: (batchSize * 1000) / median(intervals),
    total,
  };
}

/** A training loop: time spent waiting for data versus computing, per step. */
async function trainLoop(
  loader: BatchLoader,
  arch: Architecture,
  classes: number,
  channels: number,
  n: number,
) {
  manualSeed(0);
  using model = Model.create({ arch, classes, inChannels: channels, device });
  const opt = new SGD(model, { lr: 0.01, momentum: 0.9 });
  const waits: number[] = [];
  const computes: number[] = [];
  let epoch = 0, done = 0;
  while (done < n + 1) {
    const it = loader.epoch(epoch);
    for (;;) {
      const t0 = performance.now();
      const next = await it.next();
      const t1 = performance.now();
      if (next.done) break;
      const batch = next.value;
      scope(() => {
        opt.zeroGrad();
        const logits = model.forward(batch.images);
        const loss = logits.logSoftmax(1).gather(1, batch.labels.unsqueeze(1)).mean().neg();
        loss.backward();
        opt.step();
      });
      if (device !== "cpu") synchronize(device);
      batch.dispose();
      const t2 = performance.now();
      // Skip the first step (warm-up, pipeline filling).
      if (done > 0) {
        waits.push(t1 - t0);
        computes.push(t2 - t1);
      }
      if (++done >= n + 1) {
        await it.return?.();
        break;
      }
    }
    epoch++;
  }
  opt.dispose?.();
  const wait = median(waits), compute = median(computes);
  return { wait, compute, share: wait / (wait + compute) };
}

function report(
  name: string,
  prep: { msPerBatch: number; imagesPerSecond: number },
  batch: number,
) {
  console.log(
    `${name}: prepare ${prep.msPerBatch.toFixed(2)} ms per batch of ${batch} ` +
      `(median), ${Math.round(prep.imagesPerSecond)} images/s`,
  );
}

console.log(`device ${device}, ${navigator.hardwareConcurrency} CPUs`);

// ---- 28-pixel path
{
  const splits = await loadDataset({ dataset: "fashion-mnist-lt" });
  const batch = 256;
  using loader = new BatchLoader(splits.train, splits, {
    batchSize: batch,
    train: true,
    device,
    seed: 0,
  });
  const prep = await prepareOnly(loader, batch, 120);
  report("fashion-mnist-lt 28 px", prep, batch);
  const step = await trainLoop(loader, "cnn28", 10, 1, steps);
  console.log(
    `  training step (cnn28, forward + backward + SGD): compute ${step.compute.toFixed(1)} ms, ` +
      `waiting for data ${step.wait.toFixed(3)} ms -> ${
        (100 * step.share).toFixed(2)
      }% of a step ` +
      `(preparation alone would be ${(100 * prep.msPerBatch / step.compute).toFixed(2)}%)`,
  );
  splits.dispose();
}

// ---- image-list path (generated JPEGs)
{
  const dir = await Deno.makeTempDir({ prefix: "lade-data-bench-" });
  try {
    const count = 96, w = 400, h = 300;
    const paths: string[] = [];
    const labels = new Int32Array(count);
    const pixels = new Uint8Array(3 * w * h);
    for (let i = 0; i < count; i++) {
      // Smooth colour fields with texture: compresses like a photograph, not like noise.
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const v = 128 +
              60 * Math.sin((x + 13 * i) / (20 + 7 * c)) * Math.cos((y - 5 * i) / 31) +
              30 * Math.sin((x * y) / 900 + i);
            pixels[(c * h + y) * w + x] = Math.max(0, Math.min(255, v));
          }
        }
      }
      using img = tensor(pixels, [3, h, w]);
      const path = join(dir, `img${i}.jpg`);
      writeImage(img, path, 90);
      paths.push(path);
      labels[i] = i % 10;
    }
    const set: ImageSet = new FileImageSet(paths, labels, 224);
    const batch = 32;
    const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    using loader = new BatchLoader(set, norm, { batchSize: batch, train: true, device, seed: 0 });
    const prep = await prepareOnly(loader, batch, 12);
    report(`image list (${w}x${h} JPEGs -> 224, random-resized crop)`, prep, batch);
    using evalLoader = new BatchLoader(set, norm, {
      batchSize: batch,
      train: false,
      device,
      seed: 0,
    });
    report(
      "image list, evaluation (resize 256, centre crop 224)",
      await prepareOnly(evalLoader, batch, 12),
      batch,
    );
    const imageSteps = Number(flag("--image-steps", device === "cpu" ? "3" : "20"));
    const step = await trainLoop(loader, "resnet10", 10, 3, imageSteps);
    console.log(
      `  training step (resnet10, 224 px, forward + backward + SGD): compute ${
        step.compute.toFixed(1)
      } ms, ` +
        `waiting for data ${step.wait.toFixed(2)} ms -> ${
          (100 * step.share).toFixed(2)
        }% of a step ` +
        `(preparation alone would be ${(100 * prep.msPerBatch / step.compute).toFixed(1)}%)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
