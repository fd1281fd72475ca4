/**
 * What differs between training in one process and as one rank of a
 * data-parallel job, behind one small interface (`StepRunner`), so that the
 * epoch loop (trainer.ts) reads the same for both:
 *
 * - `step`: one training step on this process's part of a batch;
 * - `afterStep`: reads the running sums (one process: about once a second
 *   and at the epoch's end; ranks: at steps they agree on, where a stop is
 *   also settled) and says whether a periodic checkpoint may be written here;
 * - `stopping`: whether the run stops after this step (ranks: as agreed);
 * - `settle`: the sums made current before they are saved;
 * - `predictLogits`: an evaluation (ranks: sharded and gathered).
 *
 * This file holds the interface and the single-process runner;
 * step_runner_dp.ts the ranks'. CUDA-graph replay is no runner of its own:
 * it is a flag of the step (step.ts), which replays a captured step in
 * either runner that has one (one process on CUDA).
 *
 * @module
 */

import type { DataSplits, ImageSet } from "../data/mod.ts";
import { LadeError } from "../errors.ts";
import type { LossContext } from "../losses/mod.ts";
import type { Model } from "../models/mod.ts";
import { predictLogits } from "../predict/logits.ts";
import type { RunningSums } from "../run/checkpoint.ts";
import type { Device } from "../torch/device.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { Progress } from "./progress.ts";
import type { StepMix, TrainStep } from "./step.ts";

/** Where an epoch's steps begin. */
export interface EpochStart {
  /** 0-based epoch. */
  epoch: number;
  /** Steps of the epoch. */
  batches: number;
  /** Steps already done (a resumed epoch), 0 otherwise. */
  skip: number;
  /** The epoch's sums so far, updated in place as they are read. */
  running: RunningSums;
  /** The epoch's progress display. */
  progress: Progress;
  /** Whether the run has a checkpoint (said when the loss diverges). */
  checkpointed: () => boolean;
}

/** How the epoch loop runs its steps: in one process, or as one rank of several. */
export interface StepRunner {
  /** Starts an epoch: its sums are set on the device and read from here on. */
  beginEpoch(start: EpochStart): void;
  /** Queues one step on this process's part of a batch (with `mix`, mixed targets). */
  step(images: Tensor, labels: Tensor, ctx: LossContext, mix?: StepMix): void;
  /**
   * After `done` steps of the epoch: reads the sums where due; true where a
   * periodic checkpoint may be written (with ranks, only where they agreed).
   */
  afterStep(done: number): boolean;
  /** Whether the run stops after this step. */
  stopping(): boolean;
  /** Makes the sums current before they are saved (checks the loss is finite). */
  settle(done: number): void;
  /** This process's part of a global batch of `n` samples. */
  shareOf(n: number): { start: number; length: number };
  /** Logits [N, classes] (float32, CPU) of `set`, in order. */
  predictLogits(model: Model, set: ImageSet, data: DataSplits, batchSize: number): Promise<Tensor>;
}

/**
 * An epoch's running sums as the host sees them: read from the step's
 * device sums (which waits for the device), checked, and shown.
 */
export class EpochTally {
  readonly #s: EpochStart;
  readonly #step: TrainStep;
  readonly #begun: number;
  readonly #before: { seen: number; seconds: number };
  #lastRead: number;

  /** Sets the step's device sums to `start.running` and starts the clock. */
  constructor(step: TrainStep, start: EpochStart) {
    // The step sums loss and accuracy on the device; they are read (which
    // waits for the device) about once a second and at the end of the epoch.
    step.sums.set(start.running);
    this.#s = start;
    this.#step = step;
    this.#begun = performance.now();
    this.#before = { seen: start.running.seen, seconds: start.running.seconds };
    this.#lastRead = this.#begun;
  }

  /** Adds a step's samples. */
  addSeen(n: number): void {
    this.#s.running.seen += n;
  }

  /** Milliseconds since the sums were last read. */
  sinceRead(): number {
    return performance.now() - this.#lastRead;
  }

  /** Milliseconds a step has taken in this epoch, after `stepsDone` steps. */
  perStep(stepsDone: number): number {
    return (performance.now() - this.#begun) / Math.max(1, stepsDone - this.#s.skip);
  }

  /** Reads the sums after `stepsDone` steps; a LadeError when the loss diverged. */
  read(stepsDone: number): void {
    const { running, epoch, batches, skip, progress } = this.#s;
    const sums = this.#step.sums.read();
    const now = performance.now();
    if (sums.nonFinite > 0) {
      throw new LadeError(
        `training diverged: the loss became NaN or infinite in epoch ${epoch + 1} ` +
          `(by step ${stepsDone} of ${batches}); ` +
          (this.#s.checkpointed()
            ? "the last checkpoint is intact (nothing of the diverged steps was saved)"
            : "nothing was saved"),
      );
    }
    const begun = this.#begun, before = this.#before;
    running.loss = sums.loss;
    running.correct = sums.correct;
    running.seconds = before.seconds + (now - begun) / 1000;
    this.#lastRead = now;
    progress.update(
      stepsDone,
      running.loss / running.seen,
      (running.seen - before.seen) / ((now - begun) / 1000),
      (now - begun) / 1000 / Math.max(1, stepsDone - skip),
    );
  }
}

/**
 * Training in one process: the sums are read about once a second, a stop
 * (`stop.requested`) is answered after the current step, and an evaluation
 * stops between its batches.
 */
export class SingleProcessRunner implements StepRunner {
  readonly #step: TrainStep;
  readonly #stop: { requested: boolean };
  readonly #device: Device;
  #tally: EpochTally | null = null;
  #batches = 0;

  /** Runs `step`; `stop` is the caller's stop request. */
  constructor(step: TrainStep, stop: { requested: boolean }, device: Device) {
    this.#step = step;
    this.#stop = stop;
    this.#device = device;
  }

  beginEpoch(start: EpochStart): void {
    this.#tally = new EpochTally(this.#step, start);
    this.#batches = start.batches;
  }

  step(images: Tensor, labels: Tensor, ctx: LossContext, mix?: StepMix): void {
    this.#step.run(images, labels, ctx, mix);
    this.#tally!.addSeen(labels.shape[0]);
  }

  afterStep(done: number): boolean {
    if (done === this.#batches || this.#tally!.sinceRead() >= 1000) this.#tally!.read(done);
    return true;
  }

  stopping(): boolean {
    return this.#stop.requested;
  }

  settle(done: number): void {
    this.#tally!.read(done);
  }

  shareOf(n: number): { start: number; length: number } {
    return { start: 0, length: n };
  }

  predictLogits(model: Model, set: ImageSet, data: DataSplits, batchSize: number): Promise<Tensor> {
    // A stop ends an evaluation between batches (StoppedError): a large
    // test set would hold it up for long.
    return predictLogits(model, set, data, { device: this.#device, batchSize, stop: this.#stop });
  }
}
