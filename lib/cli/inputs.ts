/**
 * Where `evaluate` and `estimate-prior` get predictions from, as their flags
 * say: a run directory (through the trainer's `predictRun`) or logits made
 * elsewhere (.npy files), checked so that bad input ends in one line.
 *
 * @module
 */

import { plural } from "../plural.ts";
import { printWarning, UsageError } from "./errors.ts";
import { MAX_TEXT_BYTES, readInputText } from "../input_file.ts";
import { METHODS, predictionExperts } from "../losses/mod.ts";
import type { AggregationOptions } from "../eval/aggregation.ts";
import { readNpy } from "../eval/npy.ts";
import type { Predictions, SourceData } from "../eval/shifted.ts";
import { tensor } from "../torch/create.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { Device } from "../torch/device.ts";
import type { Precision } from "../models/mod.ts";
import { predictRun, readRunInfo, runHasValidation } from "../predict/run_predictions.ts";
import { type CheckpointChoice, parseCheckpointChoice } from "../run/checkpoint.ts";

/** Predictions plus what a report wants to show. */
export interface LoadedPredictions extends Predictions {
  classNames: string[];
  dataset: string;
  /** A run's test-time aggregation settings (its recipe's method.test_time; SADE). */
  testTime?: AggregationOptions;
  /** A run's checkpoint the predictions come from (absent for logits made elsewhere). */
  checkpoint?: { which: CheckpointChoice; epoch: number; valTop1?: number };
}

/** The --checkpoint flag's value, checked; a run's flag only. */
export function checkpointOf(opts: { checkpoint?: string }): CheckpointChoice {
  try {
    return parseCheckpointChoice(opts.checkpoint);
  } catch {
    throw new UsageError(`--checkpoint: must be best or last, got '${opts.checkpoint}'`);
  }
}

/** Where the predictions come from (the command's flags). */
export interface InputOptions {
  run?: string;
  logits?: string;
  labels?: string;
  trainCounts?: string;
  /** Training method of external logits (default softmax). */
  modelMethod?: string;
  sourceLogits?: string;
  sourceLabels?: string;
  device?: string;
  /** Precision of a run's model on CUDA: bf16 or fp32 (default: the run's). */
  precision?: string;
  /** A run's checkpoint: last (default) or best (by validation top-1). */
  checkpoint?: string;
  /**
   * For a multi-expert (SADE) run: also predict augmented views for the
   * test-time aggregation (`epochs` pairs per image, drawn with `seed`).
   */
  views?: { epochs?: number; seed?: number };
}

/** The --precision flag's value, checked. */
function precisionOf(opts: InputOptions): Precision | undefined {
  const p = opts.precision;
  if (p === undefined) return undefined;
  if (p !== "bf16" && p !== "fp32") {
    throw new UsageError(`--precision: must be bf16 or fp32, got '${p}'`);
  }
  return p;
}

/**
 * Checks that logits [N, C] (of `experts` experts: [N, experts * C]) and
 * labels [N] agree and the labels lie in 0..C-1.
 */
export function checkPredictions(
  logits: Tensor,
  labels: Int32Array,
  classes: number,
  what: string,
  experts = 1,
) {
  if (logits.ndim !== 2) {
    throw new UsageError(`${what}: logits must be 2-D [N, C], got shape [${logits.shape}]`);
  }
  if (logits.shape[1] !== experts * classes) {
    throw new UsageError(
      experts === 1
        ? `${what}: logits have ${logits.shape[1]} classes but the training counts list ${classes}`
        : `${what}: logits of ${experts} experts over ${classes} classes need ` +
          `${experts * classes} columns, got ${logits.shape[1]}`,
    );
  }
  if (logits.shape[0] !== labels.length) {
    throw new UsageError(
      `${what}: ${logits.shape[0]} rows of logits but ${labels.length} labels`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes) {
      throw new UsageError(
        `${what}: label ${labels[i]} at index ${i} is out of range 0..${classes - 1}`,
      );
    }
  }
  if (labels.length === 0) throw new UsageError(`${what}: no samples (0 rows of logits)`);
  // NaN or infinite logits make every accuracy, estimate and plot meaningless.
  using notFinite = logits.isfinite().logicalNot();
  using count = notFinite.sum();
  const bad = count.item();
  if (bad > 0) {
    throw new UsageError(
      `${what}: the logits hold ${bad} NaN or infinite value(s) (a diverged model, or a damaged file)`,
    );
  }
}

async function readLogits(path: string): Promise<Tensor> {
  const a = await readNpy(path);
  if (a.dtype !== "float32" && a.dtype !== "float64") {
    throw new UsageError(`${path}: logits must be float32 or float64, got ${a.dtype}`);
  }
  if (a.shape.length !== 2) {
    throw new UsageError(`${path}: logits must be 2-D [N, C], got shape (${a.shape.join(", ")})`);
  }
  return tensor(a.data, a.shape, "float32");
}

async function readLabels(path: string): Promise<Int32Array> {
  const a = await readNpy(path);
  if (!["int64", "int32", "int16", "int8", "uint8"].includes(a.dtype)) {
    throw new UsageError(`${path}: labels must be integers, got ${a.dtype}`);
  }
  if (a.shape.length !== 1) {
    throw new UsageError(`${path}: labels must be 1-D, got shape (${a.shape.join(", ")})`);
  }
  const values = Array.from(a.data as ArrayLike<number | bigint>, Number);
  // Checked before the conversion to int32, which would wrap 2^32 + 1 to 1.
  const i = values.findIndex((y) => y < 0 || y > 2 ** 31 - 1);
  if (i >= 0) {
    throw new UsageError(`${path}: label ${a.data[i]} at index ${i} is not a class index`);
  }
  return Int32Array.from(values);
}

/** Training counts from a .npy file or a JSON array. */
export async function readTrainCounts(path: string): Promise<number[]> {
  let counts: unknown;
  if (path.endsWith(".npy")) {
    const a = await readNpy(path);
    if (a.shape.length !== 1) {
      throw new UsageError(
        `${path}: training counts must be 1-D, got shape (${a.shape.join(", ")})`,
      );
    }
    counts = Array.from(a.data as ArrayLike<number | bigint>, Number);
  } else {
    const text = await readInputText(path, { maxBytes: MAX_TEXT_BYTES });
    try {
      counts = JSON.parse(text);
    } catch {
      throw new UsageError(`${path}: training counts must be a .npy file or a JSON array`);
    }
  }
  if (
    !Array.isArray(counts) || counts.length < 2 ||
    !counts.every((n) => Number.isSafeInteger(n) && n > 0)
  ) {
    throw new UsageError(`${path}: training counts must be at least two positive integers`);
  }
  return counts as number[];
}

async function checkRunDir(run: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(run);
  } catch {
    throw new UsageError(`run directory ${run} does not exist`);
  }
  if (!info.isDirectory) throw new UsageError(`${run} is not a run directory`);
}

/** Loads the test-set predictions named by the flags. */
export async function loadPredictions(opts: InputOptions): Promise<LoadedPredictions> {
  if (opts.run !== undefined) {
    if (opts.logits !== undefined) throw new UsageError("give either --run or --logits, not both");
    if (opts.modelMethod !== undefined) {
      // The run knows its method; a name given here would be ignored.
      throw new UsageError(
        "--model-method applies to --logits only: a run's method is in its checkpoint",
      );
    }
    await checkRunDir(opts.run);
    const p = await predictRun(opts.run, {
      split: "test",
      device: opts.device as Device | undefined,
      precision: precisionOf(opts),
      onWarning: printWarning,
      views: opts.views,
      checkpoint: checkpointOf(opts),
    });
    checkPredictions(
      p.logits,
      p.labels,
      p.trainCounts.length,
      opts.run,
      predictionExperts(p.method),
    );
    return {
      logits: p.logits,
      views: p.views,
      testTime: p.testTime,
      labels: p.labels,
      trainCounts: p.trainCounts,
      logitPrior: p.logitPrior,
      method: p.method,
      classNames: p.classNames,
      dataset: p.dataset,
      checkpoint: p.checkpoint,
    };
  }
  if (opts.checkpoint !== undefined) throw new UsageError("--checkpoint goes with --run");
  if (opts.logits === undefined || opts.labels === undefined || opts.trainCounts === undefined) {
    throw new UsageError("give --run DIR, or --logits F --labels F --train-counts F");
  }
  const method = opts.modelMethod ?? "softmax";
  if (!METHODS.includes(method)) {
    throw new UsageError(`unknown method '${method}' (expected one of: ${METHODS.join(", ")})`);
  }
  const trainCounts = await readTrainCounts(opts.trainCounts);
  const labels = await readLabels(opts.labels);
  const logits = await readLogits(opts.logits);
  try {
    checkPredictions(logits, labels, trainCounts.length, opts.logits, predictionExperts(method));
  } catch (e) {
    logits.dispose();
    throw e;
  }
  return {
    logits,
    labels,
    trainCounts,
    method,
    classNames: trainCounts.map((_, c) => String(c)),
    dataset: "external",
  };
}

/**
 * Whether the flags give labelled source data: a run (its training split) or
 * source files. Either source file alone counts, so that `loadSourceData`
 * reports the missing one rather than EM silently running uncalibrated.
 */
export function hasSourceData(opts: InputOptions): boolean {
  return opts.run !== undefined || opts.sourceLogits !== undefined ||
    opts.sourceLabels !== undefined;
}

/** Labelled source data and which split it is. */
export interface LoadedSource extends SourceData {
  /** `val` (held out, never trained on), `train` (seen in training) or `files` (--source-logits). */
  split: "val" | "train" | "files";
  /** The split in words, for the text output. */
  description: string;
}

/** What the JSON outputs say about the source data: its split and size. */
export function sourceJson(s: LoadedSource): { split: string; samples: number } {
  return { split: s.split, samples: s.labels.length };
}

/**
 * Labelled source-distribution predictions for BBSE and EM's calibration: the
 * run's held-out validation split when it has one, else its training split;
 * or given files (of `experts` experts' logits side by side, for a
 * multi-expert model's).
 */
export async function loadSourceData(
  opts: InputOptions,
  classes: number,
  experts = 1,
): Promise<LoadedSource> {
  if (opts.run !== undefined) {
    // Without a validation split, the training split is the labelled source
    // data; the model has seen it, so its confusion is optimistic (BBSE then
    // leans toward the predicted-class mix) and a calibration fitted on it
    // under-corrects over-confidence.
    const info = await readRunInfo(opts.run);
    const split = runHasValidation(info.config as { dataset: Record<string, unknown> })
      ? "val"
      : "train";
    const p = await predictRun(opts.run, {
      split,
      device: opts.device as Device | undefined,
      precision: precisionOf(opts),
      onWarning: printWarning,
      checkpoint: checkpointOf(opts),
    });
    checkPredictions(
      p.logits,
      p.labels,
      classes,
      `${opts.run} (${split} split)`,
      predictionExperts(p.method),
    );
    const n = p.labels.length;
    return {
      logits: p.logits,
      labels: p.labels,
      split,
      description: split === "val"
        ? `the held-out validation split (${plural(n, "image")}: ${p.splitSource})`
        : `the training split (${
          plural(n, "image")
        }, seen in training; train with --val-per-class K ` +
          "for a held-out split)",
    };
  }
  if (opts.sourceLogits === undefined || opts.sourceLabels === undefined) {
    throw new UsageError(
      "bbse (and calibrated em) with --logits needs --source-logits F --source-labels F",
    );
  }
  const labels = await readLabels(opts.sourceLabels);
  const logits = await readLogits(opts.sourceLogits);
  try {
    checkPredictions(logits, labels, classes, opts.sourceLogits, experts);
  } catch (e) {
    logits.dispose();
    throw e;
  }
  return {
    logits,
    labels,
    split: "files",
    description: `${opts.sourceLogits} (${plural(labels.length, "labelled sample")})`,
  };
}

/** A folder to write into: absent (it is made) or a folder; a UsageError naming `flag` otherwise. */
export async function checkOutputDir(path: string, flag: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new UsageError(`${flag} ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!info.isDirectory) throw new UsageError(`${flag} ${path}: exists and is not a folder`);
}
