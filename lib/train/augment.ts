/**
 * The batch transforms of a recipe that the training loop applies before a
 * step: random rotation (SADE's CIFAR loader) and Mixup / CutMix. Both are
 * drawn per (seed, epoch, step), so a resumed epoch transforms alike, and
 * per global position, so ranks transform their shares as one process
 * would the whole batch.
 *
 * @module
 */

import type { TrainConfig } from "../config/config.ts";
import { type Batch, type DataSplits, mixBatch } from "../data/mod.ts";
import { mixes, type MixOptions } from "../data/mix.ts";
import { rotateImages, rotationAngles } from "../data/rotate.ts";
import type { LossContext } from "../losses/mod.ts";
import { full } from "../torch/create.ts";
import type { Device } from "../torch/device.ts";
import type { StepRunner } from "./step_runner.ts";

/** An epoch's batch transforms. */
export interface BatchTransforms {
  seed: number;
  /** Rotation up to this many degrees (0: none). */
  rotation: number;
  /** The corners a rotation uncovers: black (0 before normalising). */
  black: number[];
  /** Samples of a global batch, and this process's part of it. */
  globalBatch: number;
  share: { start: number; length: number };
  mixOptions: MixOptions;
  /** Mixup or CutMix is on. */
  mixing: boolean;
  device: Device;
}

/** The transforms `config` asks for, on this process's part of each batch. */
export function batchTransforms(
  config: TrainConfig,
  data: DataSplits,
  runner: StepRunner,
  device: Device,
): BatchTransforms {
  // Mixup / CutMix: drawn per (seed, epoch, step), so a resumed epoch mixes alike.
  const mixOptions = { mixup: config.train.mixup, cutmix: config.train.cutmix };
  const globalBatch = config.train.batch_size;
  return {
    seed: config.seed,
    mixOptions,
    mixing: mixes(mixOptions),
    // Random rotation: angles per global position, this rank's share of them.
    rotation: config.dataset.rotation ?? 0,
    globalBatch,
    share: runner.shareOf(globalBatch),
    black: data.mean.map((m, c) => -m / data.std[c]),
    device,
  };
}

/** Runs the runner's step on `batch` (step `step` of `epoch`) as transformed by `t`. */
export function stepTransformed(
  t: BatchTransforms,
  runner: StepRunner,
  batch: Batch,
  at: { epoch: number; step: number },
  ctx: LossContext,
): void {
  // The batch as the step sees it: rotated (a new tensor) or the loader's.
  let images = batch.images;
  try {
    if (t.rotation > 0) {
      const where = { seed: t.seed, epoch: at.epoch, step: at.step };
      const angles = rotationAngles(
        t.rotation,
        where,
        t.globalBatch,
        t.share.start,
        t.share.length,
      );
      images = rotateImages(batch.images, angles, t.black);
    }
    if (t.mixing) {
      const mixed = mixBatch(images, batch.labels, t.mixOptions, {
        seed: t.seed,
        epoch: at.epoch,
        step: at.step,
      })!;
      try {
        using lambda = full([], mixed.lambda, { dtype: "float32", device: t.device });
        runner.step(mixed.images, batch.labels, ctx, { labelsB: mixed.labelsB, lambda });
      } finally {
        mixed.images.dispose();
        mixed.labelsB.dispose();
      }
    } else {
      runner.step(images, batch.labels, ctx);
    }
  } finally {
    if (images !== batch.images) images.dispose();
  }
}
