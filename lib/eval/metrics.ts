/**
 * Classification and calibration metrics of one set of logits: top-1/top-5,
 * per-class and shot-group accuracy, ECE (equal-width confidence bins), Brier
 * score and NLL. Everything runs as whole-tensor libtorch ops.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { type LabelsLike, labelTensor } from "../data/labels.ts";
import type { ShotGroups } from "../data/shots.ts";
import { zeros } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";

/** One reliability bin: its sample count, mean confidence and accuracy (null when empty). */
export interface ReliabilityBin {
  /** The bin's lower confidence bound (exclusive). */
  lower: number;
  /** The bin's upper confidence bound (inclusive). */
  upper: number;
  /** Samples whose confidence falls in the bin. */
  count: number;
  /** Their mean confidence (0..1), null when the bin is empty. */
  confidence: number | null;
  /** Their accuracy (0..1), null when the bin is empty. */
  accuracy: number | null;
}

/**
 * Top-1 accuracy in percent: over all samples, per class, and for each shot
 * group the mean of its classes' accuracies (as the paper's code reports
 * many/medium/few), so that a shot group's figure does not depend on how
 * many test samples each of its classes has.
 */
export interface Accuracy {
  /** Correct predictions over all samples. */
  top1: number;
  /** Mean per-class accuracy over the many-shot classes present (null if none). */
  many: number | null;
  /** Mean per-class accuracy over the medium-shot classes present (null if none). */
  medium: number | null;
  /** Mean per-class accuracy over the few-shot classes present (null if none). */
  few: number | null;
  /** Accuracy of each class, null for a class without samples. */
  perClass: (number | null)[];
}

/** The metrics of a set of predictions. Accuracies and ECE are percentages. */
export interface Metrics extends Accuracy {
  /** Whether the label is among the five largest logits, over all samples. */
  top5: number;
  /** Expected calibration error over 20 equal-width bins, in percent. */
  ece: number;
  /** Mean negative log-likelihood, probabilities clipped at 1e-15. */
  nll: number;
  /** Mean of sum_c p_c^2 - 2 p_y + 1. */
  brier: number;
  /** The reliability diagram's bins. */
  reliability: ReliabilityBin[];
  /**
   * The confusion matrix, only when asked for (the report's set): row t,
   * column p counts the samples of class t predicted as p.
   */
  confusion?: number[][];
}

/**
 * The confusion matrix of predictions `pred` [N] (int64 class indices)
 * against labels `y` [N]: entry [t][p] counts samples of class t predicted
 * as p (one bincount of t * C + p in libtorch).
 */
export function confusionMatrix(y: Tensor, pred: Tensor, classes: number): number[][] {
  return scope(() => {
    const flat = y.mul(classes).add(pred).bincount(classes * classes).toList();
    return Array.from({ length: classes }, (_, t) => flat.slice(t * classes, (t + 1) * classes));
  });
}

/** Number of equal-width confidence bins of ECE. */
export const ECE_BINS = 20;

function groupMean(perClass: (number | null)[], group: number[]): number | null {
  const present = group.map((c) => perClass[c]).filter((v): v is number => v !== null);
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
}

/** Per-class and shot-group accuracy from the 0/1 correctness of each sample. */
function accuracyOf(
  y: Tensor,
  correct: Tensor,
  classes: number,
  groups: ShotGroups,
): Accuracy {
  return scope(() => {
    const top1 = correct.mean().item() * 100;
    const perCount = y.bincount(classes).toList();
    const perCorrect = zeros([classes], { dtype: "float64" }).scatterAdd(0, y, correct).toList();
    const perClass = perCount.map((c, i) => (c > 0 ? (perCorrect[i] / c) * 100 : null));
    return {
      top1,
      many: groupMean(perClass, groups.many),
      medium: groupMean(perClass, groups.medium),
      few: groupMean(perClass, groups.few),
      perClass,
    };
  });
}

/**
 * Top-1 accuracy of `logits` [N, C] (argmax) against `labels` [N]: overall,
 * per class, and the mean per-class accuracy of each shot group (see
 * {@link Accuracy}); `groups` usually comes from `shotGroups(trainCounts)`.
 */
export function accuracy(logits: Tensor, labels: LabelsLike, groups: ShotGroups): Accuracy {
  const [n, classes] = logits.shape;
  if (n === 0) throw new InputError("no samples to evaluate (the logits have no rows)");
  return scope(() => {
    const y = labelTensor(labels);
    return accuracyOf(y, logits.argmax(1).eq(y).to("float64"), classes, groups);
  });
}

/**
 * The metrics of `logits` [N, C] (the adjusted logits of a prediction rule:
 * probabilities are their softmax) against `labels` [N].
 */
export function computeMetrics(
  logits: Tensor,
  labels: LabelsLike,
  groups: ShotGroups,
  options: { confusion?: boolean } = {},
): Metrics {
  const [n, classes] = logits.shape;
  if (n === 0) throw new InputError("no samples to evaluate (the logits have no rows)");
  return scope(() => {
    const y = labelTensor(labels);
    const probs = logits.to("float64").softmax(1);
    const pred = logits.argmax(1);
    const correct = pred.eq(y).to("float64");
    const acc = accuracyOf(y, correct, classes, groups);
    const k = Math.min(5, classes);
    const [, topIdx] = logits.topk(k, 1);
    const top5 = topIdx.eq(y.unsqueeze(1)).any(1).to("float64").mean().item() * 100;

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
    const confusion = options.confusion ? { confusion: confusionMatrix(y, pred, classes) } : {};
    return { ...acc, top5, ece: ece * 100, nll, brier, reliability, ...confusion };
  });
}
