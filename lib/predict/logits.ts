/**
 * Running a model over an image set in eval mode: the logits of every sample
 * in order (accuracy and the other metrics of logits are lib/eval/metrics.ts),
 * and the logits of strongly augmented views of every sample (SADE's
 * test-time aggregation learns from those, lib/eval/aggregation.ts).
 *
 * @module
 */

import { InputError, StoppedError } from "../errors.ts";
import {
  BatchLoader,
  type DataSplits,
  epochSeed,
  FileImageSet,
  type ImageSet,
  strongAugment,
  type StrongAugmentOptions,
} from "../data/mod.ts";
import type { Model } from "../models/model.ts";
import { TTA_EPOCHS } from "../eval/aggregation.ts";
import { cat, Generator, noGrad, scope, stack, type Tensor } from "../torch/mod.ts";
import type { Device } from "../torch/device.ts";

/**
 * Logits [N, classes] (float32, CPU) of every sample of `set` in order, in
 * eval mode without gradients; the model is put back in its previous mode.
 * With `onDevice`, the logits stay on `device` (data-parallel evaluation
 * gathers them there).
 */
export async function predictLogits(
  model: Model,
  set: ImageSet,
  splits: Pick<DataSplits, "mean" | "std">,
  opts: {
    device: Device;
    batchSize: number;
    onDevice?: boolean;
    /** Checked between batches: once `requested`, the prediction ends with a StoppedError. */
    stop?: { requested: boolean };
  },
): Promise<Tensor> {
  const wasTraining = model.training;
  model.eval();
  const loader = new BatchLoader(set, splits, {
    batchSize: opts.batchSize,
    train: false,
    device: opts.device,
    seed: 0,
  });
  const parts: Tensor[] = [];
  try {
    // The logits stay on the device until the end: one copy to the host,
    // and no wait for the device per batch.
    for await (const batch of loader.epoch(0)) {
      try {
        if (opts.stop?.requested) throw new StoppedError("the prediction was stopped");
        parts.push(scope(() => noGrad(() => model.forward(batch.images).to("float32"))));
      } finally {
        batch.dispose();
      }
    }
    if (parts.length === 0) throw new InputError("set", "cannot predict an empty image set");
    return scope(() => {
      const all = parts.length === 1 ? parts[0] : cat(parts, 0);
      return (opts.onDevice ? all : all.to("cpu")).clone();
    });
  } finally {
    for (const p of parts) p.dispose();
    loader.dispose();
    model.train(wasTraining);
  }
}

/** How `predictViews` draws its views. */
export interface ViewOptions {
  device: Device;
  batchSize: number;
  /** Pairs of views per sample (SADE's test-time epochs; default 5). */
  epochs?: number;
  /** Keys the augmentation draws (default 0). */
  seed?: number;
  /** The augmentation's strengths (default SADE's, scaled to the image side). */
  augment?: StrongAugmentOptions;
  /**
   * Image files: the random-resized crop's area scale [low, high] taken from
   * each file (default [0.08, 1]; SADE's ImageNet-LT and Places-LT views
   * [0.2, 1]).
   */
  cropScale?: readonly [number, number];
}

/**
 * The official views' blur: sigma in [0.1, 2] pixels of the 224-pixel crop
 * (SADE's GaussianBlur on the PIL image after RandomResizedCrop(224)).
 */
const FILE_VIEW_BLUR: readonly [number, number] = [0.1, 2];

/**
 * Logits [epochs, 2, N, K] (float32, CPU) of two strongly augmented views
 * (lib/data/augment.ts) of every sample of `set`, in order, for each epoch:
 * eval mode, no gradients; the model is put back in its previous mode.
 * The draws of view v of epoch e come from a generator seeded by
 * (seed, 2e + v), so a seed and batch size give the same views anywhere.
 *
 * In-memory images (CIFAR, Fashion-MNIST) are augmented from the image as
 * evaluated: SADE's CIFAR views (a padded random crop, colour jitter,
 * grayscale, blur, flip). Image files follow SADE's ImageNet-scale views:
 * a random-resized crop of the decoded file to the image size and a flip
 * (the loader's, in file order), then the colour jitter, grayscale and blur
 * of sigma 0.1 to 2 pixels on the crop.
 */
export async function predictViews(
  model: Model,
  set: ImageSet,
  splits: Pick<DataSplits, "mean" | "std">,
  opts: ViewOptions,
): Promise<Tensor> {
  const epochs = opts.epochs ?? TTA_EPOCHS;
  if (!Number.isInteger(epochs) || epochs < 1) {
    throw new InputError("epochs", `view epochs must be a positive integer, got ${epochs}`);
  }
  const wasTraining = model.training;
  model.eval();
  const files = set instanceof FileImageSet;
  const loader = new BatchLoader(set, splits, {
    batchSize: opts.batchSize,
    // Files: crop and flip by the loader, from the file, in the set's order.
    train: files,
    ordered: true,
    device: opts.device,
    seed: Number(epochSeed(opts.seed ?? 0, 0x7669) & 0xffffffffn),
    ...(files ? { cropScale: opts.cropScale } : {}),
  });
  const augment: StrongAugmentOptions = files
    ? { blurSigma: FILE_VIEW_BLUR, ...opts.augment, pad: 0, flipProbability: 0 }
    : { ...opts.augment };
  const views: Tensor[] = [];
  try {
    for (let pass = 0; pass < 2 * epochs; pass++) {
      using generator = new Generator(epochSeed(opts.seed ?? 0, pass));
      const parts: Tensor[] = [];
      try {
        for await (const batch of loader.epoch(pass)) {
          try {
            parts.push(scope(() =>
              noGrad(() => {
                const view = strongAugment(batch.images, {
                  ...augment,
                  mean: splits.mean,
                  std: splits.std,
                  generator,
                });
                return model.forward(view).to("float32");
              })
            ));
          } finally {
            batch.dispose();
          }
        }
        if (parts.length === 0) throw new InputError("set", "cannot predict an empty image set");
        views.push(scope(() => (parts.length === 1 ? parts[0] : cat(parts, 0)).to("cpu").clone()));
      } finally {
        for (const p of parts) p.dispose();
      }
    }
    return scope(() => {
      const all = stack(views, 0);
      return all.reshape(epochs, 2, all.shape[1], all.shape[2]);
    });
  } finally {
    for (const v of views) v.dispose();
    loader.dispose();
    model.train(wasTraining);
  }
}
