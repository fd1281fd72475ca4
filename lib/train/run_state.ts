/**
 * A training run's state between epochs and what it writes to its run
 * directory: where it stands (a fresh run, or the state of its checkpoint),
 * the metrics of every finished epoch, model selection (the best checkpoint,
 * early stopping), the checkpoints (at each epoch's end, inside an epoch
 * every `checkpointEvery`, and at a stop) and the final result. Only rank 0
 * writes; every rank keeps the same state.
 *
 * @module
 */

import type { TrainConfig } from "../config/config.ts";
import { configToYaml } from "../config/config.ts";
import type { DataSplits } from "../data/mod.ts";
import { InputError } from "../errors.ts";
import { runLogitPrior } from "../eval/logit_prior.ts";
import { writeFileAtomic } from "../fs.ts";
import type { Model } from "../models/mod.ts";
import {
  type BestCheckpoint,
  loadCheckpoint,
  removeUnreferenced,
  type RunningSums,
  runWriteFailure,
  saveCheckpoint,
  type Selection,
} from "../run/checkpoint.ts";
import { type EpochMetrics, readMetrics, writeMetrics } from "../run/metrics.ts";
import { writeEventFile } from "../run/tensorboard.ts";
import { plural } from "../plural.ts";
import type { EpochEval, TestAccuracy } from "./evaluation.ts";
import type { SGD } from "./optimizer.ts";
import { initialSelection, updateSelection } from "./selection.ts";

/** The resolved configuration's file name inside a run directory. */
export const CONFIG_FILE = "config.yaml";
/** The final result's file name inside a run directory. */
export const RESULT_FILE = "result.json";

/** Running sums at the start of an epoch. */
export const zeroSums = (): RunningSums => ({ loss: 0, correct: 0, seen: 0, seconds: 0 });

/** What a RunState works with. */
export interface RunStateOptions {
  runDir: string;
  /** This process writes the run directory (rank 0). */
  writer: boolean;
  /** Continue from the run directory's checkpoint. */
  resume: boolean;
  /** The resolved configuration (`model.arch` set). */
  config: TrainConfig;
  data: DataSplits;
  model: Model;
  optimizer: SGD;
  /** Steps of an epoch. */
  batches: number;
  worldSize: number;
  log: (line: string) => void;
}

/** Where a run stands, and its writes. */
export class RunState {
  readonly o: RunStateOptions;
  /** Where the run starts: next epoch and step. */
  start = { epoch: 0, step: 0 };
  /** The current epoch's sums. */
  running: RunningSums = zeroSums();
  /** Metrics of every finished epoch. */
  metrics: EpochMetrics[] = [];
  /** Model selection on the validation split (the best checkpoint, early stopping). */
  selection: Selection = initialSelection();
  best: BestCheckpoint | undefined;
  /** The run directory holds a checkpoint of this run. */
  checkpointed: boolean;
  /** The best checkpoint is kept. */
  readonly keepBest: boolean;
  /** Model selection is on (a best checkpoint or early stopping). */
  readonly selecting: boolean;
  /** What the rules compensate at evaluation: uniform for a class-balanced sampler (cRT). */
  readonly logitPrior: number[];

  private constructor(o: RunStateOptions) {
    this.o = o;
    this.checkpointed = o.resume;
    this.keepBest = o.config.train.keep.includes("best");
    this.selecting = this.keepBest || o.config.train.early_stop !== undefined;
    this.logitPrior = runLogitPrior(o.config, o.data.trainCounts);
  }

  /**
   * A fresh run (its config.yaml written), or with `resume` the state of
   * the run directory's checkpoint, loaded into the model and optimiser.
   */
  static async open(o: RunStateOptions): Promise<RunState> {
    const run = new RunState(o);
    if (o.resume) await run.#resume();
    else if (o.writer) await writeFileAtomic(`${o.runDir}/${CONFIG_FILE}`, configToYaml(o.config));
    return run;
  }

  async #resume(): Promise<void> {
    const { runDir, model, optimizer, batches, writer, worldSize } = this.o;
    // Every rank reads the checkpoint (the run directory must be visible to
    // all of them). The global sample order depends on the seed, the epoch
    // and the global batch only, so another world size continues it.
    const manifest = await loadCheckpoint(runDir, model, optimizer, true);
    this.start = { epoch: manifest.epoch, step: manifest.step };
    if (this.start.step > batches) {
      // The manifest's schema cannot know the epoch's length. (A checkpoint
      // at step == batches is an epoch whose steps are done and whose
      // evaluation a stop cut short: resuming evaluates it.)
      throw new InputError(
        `${runDir}/checkpoint.json is damaged: step ${this.start.step} is past the end of an epoch ` +
          `of ${plural(batches, "batch", "batches")}`,
      );
    }
    this.running = manifest.running;
    this.selection = manifest.selection ?? this.selection;
    this.best = manifest.best;
    // What a killed checkpoint write left in checkpoints/ (the lock is held).
    if (writer) await removeUnreferenced(runDir, manifest);
    this.metrics = (await readMetrics(runDir)).filter((x) => x.epoch <= manifest.epoch);
    const before = manifest.worldSize ?? 1;
    this.o.log(
      `resuming ${runDir} at epoch ${this.start.epoch + 1}, step ${this.start.step}` +
        (before !== worldSize ? ` (written by ${before} rank(s), continued by ${worldSize})` : ""),
    );
  }

  /**
   * Writes a checkpoint (rank 0 only) at `epoch` and `step` with the
   * epoch's `sums`; what the best checkpoint now is (undefined on the other ranks).
   */
  async checkpoint(
    epoch: number,
    step: number,
    sums: RunningSums,
    options: { markBest?: { valTop1: number } } = {},
  ): Promise<{ best?: BestCheckpoint } | undefined> {
    const { runDir, model, optimizer, writer } = this.o;
    if (!writer) return undefined;
    const saved = await saveCheckpoint(
      runDir,
      model,
      optimizer,
      this.#state(epoch, step, sums),
      options,
    );
    this.checkpointed = true;
    return saved;
  }

  #state(epoch: number, step: number, sums: RunningSums) {
    const { config, data, worldSize } = this.o;
    return {
      epoch,
      step,
      running: sums,
      trainCounts: data.trainCounts,
      logitPrior: this.logitPrior,
      config,
      arch: config.model.arch,
      inChannels: data.train.channels,
      classes: data.classes,
      classNames: data.classNames,
      worldSize,
      ...(this.selecting && { selection: this.selection }),
      ...(this.best && { best: this.best }),
    };
  }

  /**
   * The best epoch and early stopping after 0-based `epoch`, decided alike
   * on every rank (the validation logits are gathered on all of them).
   */
  select(epoch: number, valTop1: number | undefined): { newBest: boolean; stopEarly: boolean } {
    if (!this.selecting || valTop1 === undefined) return { newBest: false, stopEarly: false };
    const decided = updateSelection(
      this.selection,
      valTop1,
      epoch + 1,
      this.o.config.train.early_stop,
    );
    this.selection = decided.next;
    return { newBest: decided.best, stopEarly: decided.stop };
  }

  /**
   * Records finished 0-based `epoch`: its metrics (metrics.jsonl, and the
   * TensorBoard events when asked) and the checkpoint at the next epoch's
   * start (the best one when `newBest`).
   */
  async recordEpoch(record: EpochMetrics, epoch: number, newBest: boolean): Promise<void> {
    const { runDir, writer, config } = this.o;
    this.metrics.push(record);
    if (!writer) return;
    try {
      await writeMetrics(runDir, this.metrics);
      if (config.logs.tensorboard) await writeEventFile(runDir, this.metrics);
    } catch (e) {
      // Atomic: the previous metrics stay, and so does the checkpoint.
      throw await runWriteFailure(runDir, `the metrics of epoch ${epoch + 1}`, e);
    }
    const saved = await this.checkpoint(
      epoch + 1,
      0,
      zeroSums(),
      this.keepBest && newBest ? { markBest: { valTop1: record.val_top1! } } : {},
    );
    this.best = saved!.best;
  }

  /** Writes result.json (rank 0): the final accuracy and what model selection chose. */
  async writeResult(final: TestAccuracy, testImages: number): Promise<void> {
    const { runDir, writer, config } = this.o;
    if (!writer) return;
    const { best, selection } = this;
    const selected = {
      ...(this.keepBest && best && { best: { epoch: best.epoch, val_top1: best.valTop1 } }),
      ...(selection.stopped && {
        early_stop: {
          epoch: this.metrics.at(-1)?.epoch ?? this.start.epoch,
          best_epoch: selection.bestEpoch,
          best_val_top1: selection.best,
        },
      }),
    };
    const epochs = config.train.epochs;
    await writeFileAtomic(
      `${runDir}/${RESULT_FILE}`,
      JSON.stringify({ uniform: final, test_images: testImages, epochs, ...selected }, null, 1) +
        "\n",
    ).catch(async (e) => {
      throw await runWriteFailure(runDir, `the result (${RESULT_FILE})`, e);
    });
  }
}

/** The metrics of finished 0-based `epoch`, from its sums and evaluation. */
export function epochRecord(
  epoch: number,
  lr: number,
  running: RunningSums,
  ev: EpochEval,
): EpochMetrics {
  const { test, valTop1 } = ev;
  return {
    epoch: epoch + 1,
    loss: running.loss / running.seen,
    lr,
    train_acc: (100 * running.correct) / running.seen,
    images_per_sec: running.seen / running.seconds,
    seconds: running.seconds,
    ...(test && {
      test_top1: test.top1,
      test_many: test.many,
      test_medium: test.medium,
      test_few: test.few,
    }),
    ...(valTop1 !== undefined && { val_top1: valTop1 }),
    time: new Date().toISOString(),
  };
}
