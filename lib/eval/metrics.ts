/**
 * Classification and calibration metrics of one set of logits: top-1/top-5,
 * per-class and shot-group accuracy, ECE (equal-width confidence bins), Brier
 * score and NLL. Everything runs as whole-tensor libtorch ops.
 *
 * @module
 */

import { tensor, zeros } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/** Class indices of the shot groups (many > 100, medium 20..100, few < 20 training images). */
export interface ShotGroupIndices {
  many: number[];
  medium: number[];
  few: number[];
}

/** One reliability bin: its sample count, mean confidence and accuracy (null when empty). */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  confidence: number | null;
  accuracy: number | null;
}

/** The metrics of a set of predictions. Accuracies and ECE are percentages. */
export interface Metrics {
  top1: number;
  top5: number;
  /** Mean per-class accuracy over the many-shot classes present (null if none). */
  many: number | null;
  medium: number | null;
  few: number | null;
  /** Expected calibration error over 20 equal-width bins, in percent. */
  ece: number;
  /** Mean negative log-likelihood, probabilities clipped at 1e-15. */
  nll: number;
  /** Mean of sum_c p_c^2 - 2 p_y + 1. */
  brier: number;
  /** Accuracy of each class (percent), null for a class without samples. */
  perClass: (number | null)[];
  /** The reliability diagram's bins. */
  reliability: ReliabilityBin[];
}

/** Number of equal-width confidence bins of ECE. */
export const ECE_BINS = 20;

/** Labels as an int64 tensor (a new handle). */
export function labelTensor(labels: Tensor | Int32Array): Tensor {
  return labels instanceof Int32Array
    ? tensor(labels, [labels.length], "int64")
    : labels.to("int64");
}

function groupMean(perClass: (number | null)[], group: number[]): number | null {
  const present = group.map((c) => perClass[c]).filter((v): v is number => v !== null);
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
}

/**
 * The metrics of `logits` [N, C] (the adjusted logits of a prediction rule:
 * probabilities are their softmax) against `labels` [N].
 */
export function computeMetrics(
  logits: Tensor,
  labels: Tensor | Int32Array,
  groups: ShotGroupIndices,
): Metrics {
  const [n, classes] = logits.shape;
  if (n === 0) throw new RangeError("no samples to evaluate");
  return scope(() => {
    const y = labelTensor(labels);
    const probs = logits.to("float64").softmax(1);
    const pred = logits.argmax(1);
    const correct = pred.eq(y).to("float64");
    const top1 = correct.mean().item() * 100;
    const k = Math.min(5, classes);
    const [, topIdx] = logits.topk(k, 1);
    const top5 = topIdx.eq(y.unsqueeze(1)).any(1).to("float64").mean().item() * 100;

    const perCount = y.bincount(classes).toList();
    const perCorrect = zeros([classes], { dtype: "float64" }).scatterAdd(0, y, correct).toList();
    const perClass = perCount.map((c, i) => (c > 0 ? (perCorrect[i] / c) * 100 : null));

    const py = probs.gather(1, y.unsqueeze(1)).squeeze(1);
    const nll = py.clamp(1e-15).log().neg().mean().item();
    const brier = probs.square().sum(1).sub(py.mul(2)).add(1).mean().item();

    // Bins (lo, hi]: bin b holds confidences in (b/B, (b+1)/B]; confidence >= 1/C > 0.
    const conf = probs.max(1);
    const bin = conf.mul(ECE_BINS).ceil().sub(1).clamp(0, ECE_BINS - 1).to("int64");
    const binCount = bin.bincount(ECE_BINS).toList();
    const binConf = zeros([ECE_BINS], { dtype: "float64" }).scatterAdd(0, bin, conf).toList();
    const binAcc = zeros([ECE_BINS], { dtype: "float64" }).scatterAdd(0, bin, correct).toList();
    let ece = 0;
    const reliability: ReliabilityBin[] = binCount.map((c, b) => {
      ece += Math.abs(binAcc[b] - binConf[b]) / n;
      return {
        lower: b / ECE_BINS,
        upper: (b + 1) / ECE_BINS,
        count: c,
        confidence: c > 0 ? binConf[b] / c : null,
        accuracy: c > 0 ? binAcc[b] / c : null,
      };
    });
    return {
      top1,
      top5,
      many: groupMean(perClass, groups.many),
      medium: groupMean(perClass, groups.medium),
      few: groupMean(perClass, groups.few),
      ece: ece * 100,
      nll,
      brier,
      perClass,
      reliability,
    };
  });
}
