/**
 * Predictions of a trained run: its resolved configuration and latest
 * checkpoint, the model in eval mode without gradients, over the unshifted
 * test (or training, or held-out validation) split in file order. lib/eval builds its shifted
 * evaluations and reports on these.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { Precision } from "../models/model.ts";
import { checkDevice, type Device } from "../torch/device.ts";
import type { Tensor } from "../torch/tensor.ts";
import { predictLogits, predictViews } from "./logits.ts";
import {
  bestOf,
  type CheckpointChoice,
  loadCheckpoint,
  MANIFEST,
  type Manifest,
  readManifest,
} from "../run/checkpoint.ts";
import { modelFromManifest } from "../run/run_model.ts";
import { loadConfigDataset } from "../config/dataset.ts";
import { manifestLogitPrior } from "../eval/logit_prior.ts";
import { useDevice } from "../torch/device.ts";
import { combineExperts, predictionExperts } from "../losses/methods.ts";
import type { AggregationOptions } from "../eval/aggregation.ts";
import type { TrainConfig } from "../config/config.ts";

/**
 * The test-time aggregation's settings of a run's recipe (method.test_time),
 * as the aggregation takes them; absent keys stay absent (its defaults).
 */
export function testTimeOptions(config: TrainConfig): AggregationOptions {
  const t = config.method.test_time ?? {};
  const o: AggregationOptions = {};
  if (t.epochs !== undefined) o.epochs = t.epochs;
  if (t.lr !== undefined) o.lr = t.lr;
  if (t.momentum !== undefined) o.momentum = t.momentum;
  if (t.weight_decay !== undefined) o.weightDecay = t.weight_decay;
  if (t.nesterov !== undefined) o.nesterov = t.nesterov;
  if (t.batch_size !== undefined) o.batchSize = t.batch_size;
  return o;
}

/** A run's raw outputs on one split. */
export interface RunPredictions {
  /**
   * float32 [N, C] on the CPU: the model's outputs ([N, E * C] for SADE's E
   * experts; a product of experts, BalPoE, gives their mean).
   */
  logits: Tensor;
  /**
   * float32 [epochs, 2, N, E * C] on the CPU: the logits of two strongly
   * augmented views of every sample per epoch, for a model whose experts
   * are aggregated at test time (SADE) when `views` was asked for
   * (lib/eval/aggregation.ts learns from them).
   */
  views?: Tensor;
  /**
   * For a model whose experts are aggregated at test time (SADE): the
   * aggregation's optimiser as the run's recipe sets it (method.test_time).
   */
  testTime?: AggregationOptions;
  /** Class index per sample, in the split's order. */
  labels: Int32Array;
  /** Per-class training counts of the run. */
  trainCounts: number[];
  /** The prior its classifier was effectively trained under (lib/eval/logit_prior.ts). */
  logitPrior: number[];
  /** The training method (softmax, lade, ...). */
  method: string;
  classes: number;
  classNames: string[];
  /** The dataset name of the run's config. */
  dataset: string;
  /** The split predicted. */
  split: RunSplit;
  /** For the validation split: where it came from, in words. */
  splitSource?: string;
  /** The checkpoint predicted with, and the epoch (1-based) its weights are from. */
  checkpoint: { which: CheckpointChoice; epoch: number; valTop1?: number };
}

/** The splits of a run: test, training (after the long tail) and the held-out validation split. */
export type RunSplit = "test" | "train" | "val";

/** Whether a run (its resolved config) has a held-out validation split. */
export function runHasValidation(config: { dataset: Record<string, unknown> }): boolean {
  return config.dataset.val_per_class !== undefined || config.dataset.val_list !== undefined;
}

async function manifestOf(runDir: string): Promise<Manifest> {
  try {
    const stat = await Deno.stat(runDir);
    if (!stat.isDirectory) throw new InputError("runDir", `${runDir} is not a directory`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError("runDir", `run directory ${runDir} not found`);
    }
    throw e;
  }
  const m = await readManifest(runDir);
  if (m === null) {
    throw new InputError(`${runDir} has no checkpoint (${MANIFEST}); train it first`);
  }
  return m;
}

/** What a run was trained on and how, from its checkpoint manifest. */
export async function readRunInfo(
  runDir: string,
): Promise<{
  method: string;
  dataset: string;
  trainCounts: number[];
  /** The prior its classifier was effectively trained under (lib/eval/logit_prior.ts). */
  logitPrior: number[];
  config: Record<string, unknown>;
}> {
  const m = await manifestOf(runDir);
  return {
    method: m.config.method.name,
    dataset: m.config.dataset.name,
    trainCounts: m.trainCounts,
    logitPrior: manifestLogitPrior(m),
    config: m.config as unknown as Record<string, unknown>,
  };
}

/** The device a run trained on when this machine has it, else the CPU. */
function runDevice(name: string): Device {
  try {
    return checkDevice(name);
  } catch {
    return "cpu";
  }
}

/**
 * Runs the run's latest checkpoint (or, with `checkpoint` "best", its best)
 * over `split` (default test) in file order. The caller owns the returned logits.
 */
export async function predictRun(
  runDir: string,
  opts: {
    split?: RunSplit;
    /** Where to run the model (default: the run's device when this machine has it, else cpu). */
    device?: Device;
    batchSize?: number;
    /** The precision on CUDA (default: the run's; bf16 for "auto"); the CPU runs fp32. */
    precision?: Precision;
    /** Receives warnings of loading the dataset (default: ignored). */
    onWarning?: (message: string) => void;
    /**
     * For a run whose experts are aggregated at test time (SADE), also the
     * logits of augmented views for the aggregation: `epochs` pairs per
     * sample (default: the recipe's method.test_time.epochs, else 5), drawn
     * with `seed` (default 0), as the recipe's test-time settings say
     * (crop scale, blur). Ignored for other runs.
     */
    views?: { epochs?: number; seed?: number };
    /** The run's latest checkpoint (default) or its best by validation top-1. */
    checkpoint?: CheckpointChoice;
  } = {},
): Promise<RunPredictions> {
  const m = await manifestOf(runDir);
  const which = opts.checkpoint ?? "last";
  // A run without a best checkpoint is said before the (slow) data loads.
  const best = which === "best" ? bestOf(m, runDir) : undefined;
  const device = opts.device !== undefined ? useDevice(opts.device) : runDevice(m.config.device);
  const wanted = opts.precision ?? m.config.train.precision ?? "auto";
  const precision: Precision = device === "cpu" ? "fp32" : wanted === "fp32" ? "fp32" : "bf16";
  const data = await loadConfigDataset(m.config, { onWarning: opts.onWarning });
  try {
    const split = opts.split ?? "test";
    if (split === "val" && data.val === undefined) {
      throw new InputError(
        "split",
        `${runDir} has no validation split (train with \`dataset.val_per_class\` K, or dataset.val_list)`,
      );
    }
    const set = split === "train" ? data.train : split === "val" ? data.val! : data.test;
    using model = modelFromManifest(m, device);
    await loadCheckpoint(runDir, model, undefined, false, which);
    model.precision = precision;
    const batchSize = opts.batchSize ?? m.config.train.eval_batch_size;
    const method = m.config.method.name;
    const logits = await predictLogits(model, set, data, { device, batchSize }).then((raw) => {
      // A product of experts predicts with their mean.
      if (predictionExperts(method) === model.experts) return raw;
      try {
        return combineExperts(raw, method);
      } finally {
        raw.dispose();
      }
    });
    let views: Tensor | undefined;
    try {
      if (opts.views !== undefined && predictionExperts(method) > 1) {
        const tt = m.config.method.test_time ?? {};
        views = await predictViews(model, set, data, {
          device,
          batchSize,
          seed: opts.views.seed,
          epochs: opts.views.epochs ?? tt.epochs,
          cropScale: tt.crop_scale,
          augment: tt.blur_probability === undefined
            ? undefined
            : { blurProbability: tt.blur_probability },
        });
      }
    } catch (e) {
      logits.dispose();
      throw e;
    }
    return {
      logits,
      views,
      ...(predictionExperts(method) > 1 ? { testTime: testTimeOptions(m.config) } : {}),
      labels: set.labels.slice(),
      trainCounts: [...m.trainCounts],
      logitPrior: manifestLogitPrior(m),
      method,
      classes: m.classes,
      classNames: [...m.classNames],
      dataset: m.config.dataset.name,
      split,
      ...(split === "val" && { splitSource: data.valSource }),
      checkpoint: best
        ? { which, epoch: best.epoch, valTop1: best.valTop1 }
        : { which, epoch: m.epoch },
    };
  } finally {
    data.dispose();
  }
}
