/**
 * The embedded default run, as plain data so a compiled binary needs no
 * files: Fashion-MNIST-LT (R = 100, 14,886 training images), the 28-pixel
 * CNN, LADE (alpha 0.1, lambda 0.1), 12 epochs of SGD with a one-epoch
 * warm-up and cosine decay. Recipe files in configs/ are merged onto it.
 *
 * @module
 */

import type { TrainConfig } from "./config.ts";

/** The configuration `train` runs with no flags. */
export const DEFAULT_CONFIG: TrainConfig = {
  dataset: {
    name: "fashion-mnist-lt",
    imbalance: 100,
    imbalance_type: "exp",
    skip_bad_images: false,
  },
  model: {
    arch: "auto",
    head: "linear",
    scale: 16,
    init_skip: "none",
    init_strict: true,
    freeze: "none",
  },
  method: { name: "lade", alpha: 0.1, lambda: 0.1 },
  train: {
    epochs: 12,
    batch_size: 128,
    lr: 0.05,
    momentum: 0.9,
    weight_decay: 5e-4,
    nesterov: false,
    sampler: "shuffle",
    schedule: {
      type: "cosine",
      warmup_epochs: 1,
      warmup_from: 1 / 3,
      milestones: [],
      factors: [],
      step_at_epoch_start: false,
    },
    eval_every: 1,
    eval_batch_size: 512,
    precision: "auto",
    cuda_graphs: "auto",
  },
  seed: 0,
  device: "cpu",
  threads: 0,
};
