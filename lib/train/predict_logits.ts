/**
 * Running a model over an image set in eval mode: the logits of every sample
 * in order (accuracy and the other metrics of logits are lib/eval/metrics.ts).
 *
 * @module
 */

import { BatchLoader, type DataSplits, type ImageSet } from "../data/mod.ts";
import type { Model } from "../models/model.ts";
import { cat, noGrad, scope, type Tensor } from "../torch/mod.ts";
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
  opts: { device: Device; batchSize: number; onDevice?: boolean },
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
        parts.push(scope(() => noGrad(() => model.forward(batch.images).to("float32"))));
      } finally {
        batch.dispose();
      }
    }
    if (parts.length === 0) throw new RangeError("cannot predict an empty image set");
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
