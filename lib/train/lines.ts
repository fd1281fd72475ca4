/**
 * The lines a training run prints through its `log`: the start lines (the
 * resolved configuration), each epoch's summary and the early-stopping
 * note. (The progress bar is progress.ts's.)
 *
 * @module
 */

import type { TrainConfig } from "../config/config.ts";
import type { DataSplits } from "../data/mod.ts";
import type { Model, Precision } from "../models/mod.ts";
import type { EpochMetrics } from "../run/metrics.ts";
import type { Selection } from "../run/checkpoint.ts";
import { plural } from "../plural.ts";
import type { Device } from "../torch/device.ts";
import type { DataParallel } from "./data_parallel.ts";
import type { EpochEval } from "./evaluation.ts";
import { formatDuration } from "./progress.ts";
import type { TrainingThreads } from "./threads.ts";

/** A percentage as the lines show it ("  -  " for none). */
export const pct = (x: number | null | undefined): string =>
  x === undefined || x === null || Number.isNaN(x) ? "  -  " : `${x.toFixed(1)}%`;

/** What the start lines describe. */
export interface StartLinesContext {
  data: DataSplits;
  config: TrainConfig;
  model: Model;
  device: Device;
  dp: DataParallel | undefined;
  precision: Precision;
  cudaGraphs: boolean;
  threads: TrainingThreads;
}

/**
 * The resolved configuration a run starts with, in a few lines: the data
 * (images per class, imbalance), the network and method, the optimisation,
 * and where it runs.
 */
export function startLines(c: StartLinesContext, arch: string, batches: number): string[] {
  const { data, config, model } = c;
  const n = (x: number) => x.toLocaleString("en-US");
  const counts = data.trainCounts;
  const m = config.method;
  const hyper = [
    m.alpha !== undefined ? `alpha ${m.alpha}` : "",
    m.lambda !== undefined ? `lambda ${m.lambda}` : "",
    m.tau !== undefined ? `tau ${m.tau}` : "",
  ].filter((x) => x !== "" && METHOD_HYPERS[m.name]?.includes(x.split(" ")[0]));
  const t = config.train;
  const s = t.schedule;
  const lines = [
    `dataset   ${data.name}: ${n(data.train.size)} training images in ${data.classes} classes, ` +
    (Math.min(...counts) === Math.max(...counts)
      ? `${n(counts[0])} a class `
      : `${n(Math.min(...counts))} to ${n(Math.max(...counts))} a class `) +
    `(imbalance ${data.imbalance.ratio}${
      data.imbalance.ratio > 1 ? `, ${data.imbalance.type}` : ""
    })` +
    (data.val ? `, ${n(data.val.size)} more held out for validation` : "") +
    `; ${n(data.test.size)} test images`,
    `model     ${arch}, ${n(model.numParams)} parameters; method ${m.name}` +
    (hyper.length > 0 ? ` (${hyper.join(", ")})` : "") +
    (config.model.init !== undefined ? `; from ${config.model.init}` : "") +
    (config.model.freeze !== "none" ? `; ${config.model.freeze} frozen` : ""),
    `training  ${plural(t.epochs, "epoch")} of ${plural(batches, "batch", "batches")} of ` +
    `${t.batch_size}, lr ${t.lr}` +
    (t.backbone_lr !== undefined ? ` (backbone ${t.backbone_lr})` : "") +
    ` (${s.type}${s.warmup_epochs > 0 ? `, ${plural(s.warmup_epochs, "epoch")} warm-up` : ""})` +
    `, sampler ${t.sampler}, seed ${config.seed}`,
    deviceLine(c),
  ];
  return lines;
}

/** The start line of where the run trains. */
function deviceLine(c: StartLinesContext): string {
  const { device, dp } = c;
  const t = c.config.train;
  return `device    ${device}` +
    (device === "cpu" ? "" : ` (${c.precision}${c.cudaGraphs ? ", CUDA graphs" : ""})`) +
    (device === "cpu" ? `, ${plural(c.threads.threads, "thread")} (${c.threads.why})` : "") +
    (dp
      ? `; ${dp.worldSize} ranks (${dp.pg.backend}), ` +
        `${t.batch_size / dp.worldSize} samples of each batch of ${t.batch_size} a rank`
      : "");
}

/** The hyper-parameters each method reads (the others in a config are not shown). */
const METHOD_HYPERS: Readonly<Record<string, readonly string[]>> = {
  lade: ["alpha", "lambda"],
  "logit-adjusted": ["tau"],
  sade: ["tau"],
};

/**
 * An epoch's summary line: loss, learning rate, accuracies, speed and time,
 * the validation top-1 (and whether it is the best), and the thread counts
 * the default's governor changed in the epoch.
 */
export function epochLine(
  epochs: number,
  record: EpochMetrics,
  ev: EpochEval,
  newBest: boolean,
  threadChanges: string[],
): string {
  const { test, valTop1 } = ev;
  return `epoch ${record.epoch}/${epochs}  loss ${record.loss.toFixed(4)}  ` +
    `lr ${record.lr.toPrecision(3)}  ` +
    `train ${pct(record.train_acc)}  test ${pct(test?.top1)}  ` +
    `${record.images_per_sec.toFixed(0)} img/s  ${formatDuration(record.seconds)}` +
    (valTop1 === undefined ? "" : `  val ${pct(valTop1)}${newBest ? " (best)" : ""}`) +
    threadChanges.map((t) => `  ${t}`).join("");
}

/** The line that says early stopping ended the run. */
export function earlyStopLine(config: TrainConfig, selection: Selection): string {
  const earlyStop = config.train.early_stop!;
  return `early stopping: validation top-1 has not improved by more than ` +
    `${earlyStop.min_delta} for ${earlyStop.patience} epoch(s); the best was ` +
    `${pct(selection.best)} after epoch ${selection.bestEpoch}`;
}
