/**
 * The data of a shifted evaluation: a model's predictions on the unshifted
 * test set, labelled source data, and what evaluating one shifted set yields.
 * (Types only, so that shifted.ts and experts.ts share them without importing
 * each other.)
 *
 * @module
 */

import type { CalibrationKind } from "../priors/calibration.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { Aggregation } from "./aggregation.ts";
import type { Metrics } from "./metrics.ts";

/** A model's raw outputs on the (unshifted) test set, in file order. */
export interface Predictions {
  /** float [N, C] raw logits, on the CPU ([N, E * C] for a method of E experts, SADE). */
  logits: Tensor;
  labels: Int32Array;
  trainCounts: number[];
  /** The training method (decides the prediction rules). */
  method: string;
  /**
   * The prior the classifier was effectively trained under, which every rule
   * compensates (lib/eval/rules.ts `logitPriorOf`): uniform for cRT, LWS,
   * tau-norm and LADE, p_s for softmax on shuffled epochs. Default: the
   * method's on shuffled epochs of `trainCounts`.
   */
  logitPrior?: number[];
  /**
   * A multi-expert model's logits of two augmented views of every sample
   * per epoch, [epochs, 2, N, E * C]: with them, the evaluation adds SADE's
   * test-time aggregation (lib/eval/experts.ts).
   */
  views?: Tensor;
}

/** Labelled source-distribution predictions, for BBSE's confusion matrix and EM's calibration. */
export interface SourceData {
  /** The model's logits [N, C] on labelled source data (a held-out validation split). */
  logits: Tensor;
  /** Their labels [N]. */
  labels: Int32Array;
}

/** An estimated prior and its error against the shifted set's true prior. */
export interface PriorEstimate {
  prior: number[];
  l1: number;
  kl: number;
  /** For EM on calibrated posteriors: the calibration used. */
  calibration?: { kind: CalibrationKind; temperature: number; bias: number[] };
}

/** The evaluation of one shifted test set. */
export interface ShiftEvaluation {
  shift: string;
  /** Samples of each class in the shifted set. */
  counts: number[];
  /** The true target prior (counts normalised). */
  targetPrior: number[];
  /** Metrics by variant name. */
  results: Record<string, Metrics>;
  /** Estimated priors by estimator (em, bbse). */
  estimates: Record<string, PriorEstimate>;
  /** Top-1 (%) of argmax f, the raw logits without any prior adjustment (experts: their average). */
  rawTop1: number;
  /**
   * A multi-expert model's test-time aggregation: the weights learned on
   * this set's unlabelled images (transductive), the epochs run and the
   * views' final similarity.
   */
  aggregation?: Aggregation & { transductive: true };
}
