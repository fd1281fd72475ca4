/**
 * Calibration on labelled source data before EM (Alexandari, Kundaje &
 * Shrikumar, ICML 2020, "Maximum Likelihood with Bias-Corrected Calibration
 * is Hard-To-Beat at Label Shift Adaptation").
 *
 * EM re-weights posteriors by p_t / p_s, so it is only as good as the
 * posteriors are calibrated: an over-confident network drives EM's priors
 * toward the predicted-class mix and starves the rare classes. Two fits of the
 * negative log-likelihood on held-out labelled source logits z:
 * - TS (temperature scaling): softmax(z / T);
 * - BCTS (bias-corrected temperature scaling): softmax(z / T + b), with one
 *   bias per class, which also corrects a systematic per-class skew.
 *
 * L-BFGS is not available through the native layer, so the fit is full-batch
 * Adam on (log T, b) with autograd; log T keeps T positive without a
 * constraint. The objective is smooth and (in 1/T and b) convex, so a few
 * hundred steps with a decaying rate settle it.
 *
 * @module
 */

import { InputError, LadeError } from "../errors.ts";
import { labelCount, type LabelsLike, labelTensor } from "../data/labels.ts";
import { tensor, zeros } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { type EmOptions, emPrior, type EmResult } from "./em.ts";

/** The calibration maps: temperature only, or temperature plus per-class biases. */
export type CalibrationKind = "ts" | "bcts";

/** The calibration kinds, as command lines and options name them. */
export const CALIBRATION_KINDS: readonly CalibrationKind[] = ["ts", "bcts"];

/** Options of `fitCalibration`. */
export interface CalibrationOptions {
  kind: CalibrationKind;
  /** Adam steps (default 400). */
  steps?: number;
  /** Adam's initial learning rate on log T and b (default 0.05), cosine-decayed to 1% of it. */
  learningRate?: number;
  /** Stop early once the gradient's largest component falls below this (default 1e-7). */
  gradientTolerance?: number;
}

/** A fitted calibration map z -> z / temperature + bias. */
export interface Calibration {
  kind: CalibrationKind;
  /** T > 0 (above 1 softens an over-confident model). */
  temperature: number;
  /**
   * Per-class additive biases, centred to mean 0 (softmax ignores a common
   * shift, so the centring only makes fits comparable); all 0 for TS.
   */
  bias: number[];
  /** Mean NLL on the source data before (T = 1, b = 0) and after the fit. */
  nllBefore: number;
  nllAfter: number;
  /** Adam steps taken. */
  steps: number;
}

/** Labels as an int64 column [N, 1], ready for gather. */
function labelColumn(labels: LabelsLike): Tensor {
  return scope(() => labelTensor(labels).reshape(-1, 1));
}

/**
 * Mean NLL of softmax(z / T + b) at labels y [N, 1], with theta = [log T]
 * (TS) or [log T, b_0 .. b_C-1] (BCTS): one parameter vector, so each Adam
 * step is one set of tensor ops rather than one per parameter.
 */
function meanNll(z: Tensor, y: Tensor, theta: Tensor): Tensor {
  return scope(() => {
    let s = z.mul(theta.narrow(0, 0, 1).neg().exp());
    if (theta.shape[0] > 1) s = s.add(theta.narrow(0, 1, theta.shape[0] - 1));
    return s.logSoftmax(1).gather(1, y).mean().neg();
  });
}

/**
 * Fits TS or BCTS by minimising the mean NLL of the calibrated softmax on
 * labelled source logits [N, C] (raw model outputs, or any logits of the
 * source posterior) and their labels.
 */
export function fitCalibration(
  sourceLogits: Tensor,
  sourceLabels: LabelsLike,
  options: CalibrationOptions,
): Calibration {
  const { kind } = options;
  if (!CALIBRATION_KINDS.includes(kind)) {
    throw new InputError("kind", `unknown calibration '${kind}' (expected ts or bcts)`);
  }
  if (sourceLogits.ndim !== 2) {
    throw new InputError(`calibration: logits must be 2-D [N, C], got [${sourceLogits.shape}]`);
  }
  const [n, classes] = sourceLogits.shape;
  const labels = labelCount(sourceLabels);
  if (n === 0 || labels !== n) {
    throw new InputError(`calibration: ${n} rows of source logits but ${labels} labels`);
  }
  const steps = options.steps ?? 400;
  const lr0 = options.learningRate ?? 0.05;
  const tolerance = options.gradientTolerance ?? 1e-7;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;

  return scope(() => {
    // float64: the NLL differences near the optimum are tiny relative to its value.
    const z = sourceLogits.detach().to("float64");
    const y = labelColumn(sourceLabels);
    const theta = zeros([kind === "bcts" ? 1 + classes : 1], { dtype: "float64" });
    theta.requiresGrad = true;
    // Adam's moment estimates, updated in place.
    const m = zeros(theta.shape, { dtype: "float64" });
    const v = zeros(theta.shape, { dtype: "float64" });
    const nllBefore = scope(() => meanNll(z, y, theta).item());

    let taken = 0;
    for (let t = 1; t <= steps; t++) {
      taken = t;
      const done = scope(() => {
        meanNll(z, y, theta).backward();
        const g = theta.grad!;
        theta.grad = null;
        // Cosine decay: large early steps to travel, small late ones to settle.
        const lr = lr0 * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * (t - 1) / steps)));
        m.copy_(m.mul(beta1).add(g.mul(1 - beta1)));
        v.copy_(v.mul(beta2).add(g.square().mul(1 - beta2)));
        const mHat = m.div(1 - beta1 ** t);
        const vHat = v.div(1 - beta2 ** t);
        // copy_ runs outside autograd, so theta stays a leaf.
        theta.copy_(theta.detach().sub(mHat.div(vHat.sqrt().add(eps)).mul(lr)));
        return g.abs().max().item() < tolerance;
      });
      if (done) break;
    }

    const nllAfter = scope(() => meanNll(z, y, theta).item());
    const fitted = theta.detach().toList();
    const temperature = Math.exp(fitted[0]);
    let b = kind === "bcts" ? fitted.slice(1) : new Array<number>(classes).fill(0);
    const mean = b.reduce((s, x) => s + x, 0) / classes;
    b = b.map((x) => x - mean);
    if (!Number.isFinite(temperature) || !b.every(Number.isFinite)) {
      throw new LadeError("calibration diverged (non-finite temperature or bias)");
    }
    return { kind, temperature, bias: b, nllBefore, nllAfter, steps: taken };
  });
}

/** Calibrated logits z / T + b (same dtype as `logits`); their softmax is the calibrated posterior. */
export function applyCalibration(
  logits: Tensor,
  cal: Pick<Calibration, "temperature" | "bias">,
): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  if (cal.bias.length !== classes) {
    throw new InputError(
      "cal",
      `the calibration has ${cal.bias.length} classes but the logits ${classes}`,
    );
  }
  return scope(() => {
    const b = tensor(cal.bias, [classes], logits.dtype);
    const onDevice = logits.device === "cpu" ? b : b.to(logits.device);
    return logits.div(cal.temperature).add(onDevice);
  });
}

/** The class frequencies of labels (the prior that a BCTS-calibrated model is calibrated to). */
export function labelFrequencies(labels: LabelsLike, classes: number): number[] {
  const counts = scope(() => {
    return labelTensor(labels).reshape(-1).bincount(classes).toList();
  });
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) throw new InputError("calibration: no source labels");
  return counts.map((c) => c / total);
}

/** What `calibratedEmPrior` found. */
export interface CalibratedEmResult extends EmResult {
  /** The calibration fitted on the source data. */
  calibration: Calibration;
  /** The prior the calibrated posteriors refer to: the source labels' class frequencies. */
  referencePrior: number[];
}

/**
 * EM on calibrated posteriors (the paper's recipe): fit `kind` on labelled
 * source logits, apply it to the target logits, and run EM from the source
 * labels' class frequencies. The reference is those frequencies rather than a
 * nominal p_s because NLL calibration (the biases of BCTS in particular) fits
 * the posteriors to the class mix of the data it sees.
 *
 * Both logit sets must be logits of the model's source posterior (for models
 * trained on f + log p_s, that is f + log p_s).
 */
export function calibratedEmPrior(
  targetLogits: Tensor,
  sourceLogits: Tensor,
  sourceLabels: LabelsLike,
  options: CalibrationOptions & EmOptions,
): CalibratedEmResult {
  const classes = targetLogits.shape[1];
  if (sourceLogits.shape[1] !== classes) {
    throw new InputError(
      `calibration: source logits have ${sourceLogits.shape[1]} classes, target ${classes}`,
    );
  }
  const calibration = fitCalibration(sourceLogits, sourceLabels, options);
  const referencePrior = labelFrequencies(sourceLabels, classes);
  const probs = scope(() => applyCalibration(targetLogits.to("float64"), calibration).softmax(1));
  try {
    return { ...emPrior(probs, referencePrior, options), calibration, referencePrior };
  } finally {
    probs.dispose();
  }
}
