/**
 * Shared by tests/train/data_parallel_test.ts and the rank script it starts:
 * SGD steps of cnn28 through the trainer's pieces (BatchLoader, TrainStep,
 * flat SGD, the LADE loss), in one process or as one rank of several
 * (DataParallel: sharded batches, gathered loss, summed gradients). The
 * network runs in eval mode, so its batch norms are fixed affine maps: a
 * model without batch statistics, whose data-parallel steps equal the
 * single-process steps on the global batch up to float error.
 */
import { BatchLoader } from "../../lib/data/batch_loader.ts";
import { TensorImageSet } from "../../lib/data/image_set.ts";
import { createLoss } from "../../lib/losses/mod.ts";
import { Model } from "../../lib/models/model.ts";
import { tensor } from "../../lib/torch/create.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import type { DataParallel } from "../../lib/train/data_parallel.ts";
import { SGD } from "../../lib/train/optimizer.ts";
import { TrainStep } from "../../lib/train/step.ts";

/** Images, the global batch, epochs (3 batches each). */
export const IMAGES = 50;
export const BATCH = 16;
export const EPOCHS = 2;

/** A deterministic byte per (image, pixel), with a class-dependent bright row. */
function images(): { pixels: Uint8Array; labels: Int32Array } {
  // A long tail: of every 11 images, 4 of class 0, 3 of class 1, 2, 1 and 1.
  const tail = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4];
  const labels = Int32Array.from({ length: IMAGES }, (_, i) => tail[i % tail.length]);
  const pixels = new Uint8Array(IMAGES * 28 * 28);
  let s = 12345;
  for (let i = 0; i < pixels.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    pixels[i] = s % 97;
  }
  for (let i = 0; i < IMAGES; i++) {
    for (let x = 3; x < 25; x++) pixels[i * 784 + (3 + 4 * labels[i]) * 28 + x] = 250;
  }
  return { pixels, labels };
}

/**
 * Runs the steps; `seed` draws the initial weights (a rank whose seed differs
 * from rank 0's gets rank 0's weights by broadcast). Returns each step's
 * loss and the final parameters.
 */
export async function trainSteps(
  dp: DataParallel | undefined,
  seed: number,
): Promise<{ losses: number[]; params: number[] }> {
  manualSeed(seed);
  const { pixels, labels } = images();
  using set = new TensorImageSet(tensor(pixels, [IMAGES, 1, 28, 28]), labels);
  const counts = Array.from({ length: 5 }, (_, c) => labels.filter((y) => y === c).length);
  using model = Model.create({ arch: "cnn28", classes: 5, inChannels: 1 });
  model.eval();
  using optimizer = new SGD(model, { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  dp?.broadcastModel(model);
  using loss = createLoss("lade", { trainCounts: counts, alpha: 0.1, lambda: 0.1 });
  using step = new TrainStep({
    model,
    optimizer,
    loss,
    device: "cpu",
    ...(dp ? dp.stepHooks(optimizer) : {}),
  });
  using loader = new BatchLoader(set, { mean: [0.3], std: [0.3] }, {
    batchSize: BATCH,
    train: true,
    device: "cpu",
    seed: 4,
    dropLast: true,
    ...(dp ? { shard: dp.shard() } : {}),
  });
  const losses: number[] = [];
  let before = 0;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for await (const batch of loader.epoch(epoch)) {
      step.run(batch.images, batch.labels, { epoch, epochs: EPOCHS });
      batch.dispose();
      const sum = step.sums.read().loss;
      losses.push((sum - before) / BATCH);
      before = sum;
    }
  }
  using state = model.stateVector(false);
  return { losses, params: Array.from(state.toArray() as Float32Array) };
}
