/**
 * Running a model over an image set in eval mode, and top-1 accuracy overall
 * and by shot group (many > 100, medium 20..100, few < 20 training images).
 * The per-sample work (argmax, comparison, per-class sums) stays in libtorch.
 *
 * @module
 */

import { BatchLoader, type DataSplits, type ImageSet, shotGroups } from "../data/mod.ts";
import type { Model } from "../models/model.ts";
import { cat, noGrad, scope, type Tensor, tensor } from "../torch/mod.ts";
import type { Device } from "../torch/device.ts";

/**
 * Logits [N, classes] (float32, CPU) of every sample of `set` in order, in
 * eval mode without gradients; the model is put back in its previous mode.
 */
export async function predictLogits(
  model: Model,
  set: ImageSet,
  splits: Pick<DataSplits, "mean" | "std">,
  opts: { device: Device; batchSize: number },
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
    for await (const batch of loader.epoch(0)) {
      try {
        parts.push(scope(() => noGrad(() => model.forward(batch.images).to("cpu", "float32"))));
      } finally {
        batch.dispose();
      }
    }
    if (parts.length === 0) throw new RangeError("cannot predict an empty image set");
    return parts.length === 1 ? parts[0].clone() : cat(parts, 0);
  } finally {
    for (const p of parts) p.dispose();
    loader.dispose();
    model.train(wasTraining);
  }
}

/** Top-1 accuracy in percent, overall and by shot group (NaN for an empty group). */
export interface Accuracy {
  top1: number;
  many: number;
  medium: number;
  few: number;
}

/** Correct predictions and samples per class, from logits [N, C] and labels. */
export function perClassCorrect(
  logits: Tensor,
  labels: Int32Array,
): { correct: number[]; total: number[] } {
  const classes = logits.shape[1];
  return scope(() => {
    const y = tensor(labels, [labels.length], "int64");
    const hit = logits.argmax(1).eq(y).to("float32");
    const correct = y.oneHot(classes).to("float32").mul(hit.unsqueeze(1)).sum(0);
    const total = y.bincount(classes);
    return { correct: correct.toList(), total: total.toList() };
  });
}

/** Top-1 accuracy (percent) of logits [N, C] against labels, overall and by shot group. */
export function accuracy(logits: Tensor, labels: Int32Array, trainCounts: number[]): Accuracy {
  const { correct, total } = perClassCorrect(logits, labels);
  const groups = shotGroups(trainCounts);
  const pct = (classes: number[]) => {
    let c = 0;
    let n = 0;
    for (const k of classes) {
      c += correct[k];
      n += total[k];
    }
    return n === 0 ? NaN : (100 * c) / n;
  };
  return {
    top1: pct(trainCounts.map((_, i) => i)),
    many: pct(groups.many),
    medium: pct(groups.medium),
    few: pct(groups.few),
  };
}
