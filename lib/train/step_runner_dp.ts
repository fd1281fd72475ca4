/**
 * The step runner of one rank of a data-parallel job (see step_runner.ts
 * for the interface, data_parallel.ts for the collectives): every step adds
 * the global batch, and the sums are read and a stop is settled at steps
 * every rank agrees on (about once a second, at least 8 times an epoch, and
 * at its end), so every rank stops after the same step.
 *
 * @module
 */

import type { DataSplits, ImageSet } from "../data/mod.ts";
import type { LossContext } from "../losses/mod.ts";
import type { Model } from "../models/mod.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { DataParallel } from "./data_parallel.ts";
import type { StepMix, TrainStep } from "./step.ts";
import { type EpochStart, EpochTally, type StepRunner } from "./step_runner.ts";

/** One rank's steps: the loss sees the global batch; stops are agreed on. */
export class DataParallelRunner implements StepRunner {
  readonly #step: TrainStep;
  readonly #dp: DataParallel;
  readonly #stop: { requested: boolean };
  readonly #globalBatch: number;
  #tally: EpochTally | null = null;
  #batches = 0;
  #nextAgreement = 1;
  #stopAgreed = false;

  /** Runs `step` (made with `dp.stepHooks`) on global batches of `globalBatch` samples. */
  constructor(
    step: TrainStep,
    dp: DataParallel,
    stop: { requested: boolean },
    globalBatch: number,
  ) {
    this.#step = step;
    this.#dp = dp;
    this.#stop = stop;
    this.#globalBatch = globalBatch;
  }

  beginEpoch(start: EpochStart): void {
    this.#tally = new EpochTally(this.#step, start);
    this.#batches = start.batches;
    this.#nextAgreement = start.skip + 1;
    this.#stopAgreed = false;
  }

  step(images: Tensor, labels: Tensor, ctx: LossContext, mix?: StepMix): void {
    this.#step.run(images, labels, ctx, mix);
    // Samples a step adds: the global batch (every rank's loss sees all of it).
    this.#tally!.addSeen(this.#globalBatch);
  }

  afterStep(done: number): boolean {
    if (done !== this.#nextAgreement && done !== this.#batches) return false;
    const tally = this.#tally!;
    tally.read(done);
    const proposal = Math.min(
      Math.ceil(this.#batches / 8),
      Math.max(1, Math.round(1000 / Math.max(tally.perStep(done), 0.01))),
    );
    const a = this.#dp.agree(this.#stop.requested, proposal);
    this.#stopAgreed = a.stop;
    this.#nextAgreement = done + a.every;
    return true;
  }

  stopping(): boolean {
    return this.#stopAgreed;
  }

  /** The sums were read where the ranks agreed: nothing to do. */
  settle(_done: number): void {}

  shareOf(n: number): { start: number; length: number } {
    return this.#dp.shard()(n);
  }

  predictLogits(model: Model, set: ImageSet, data: DataSplits, batchSize: number): Promise<Tensor> {
    // Ranks finish an evaluation (their collectives must match; they agree
    // on stopping at the next step).
    return this.#dp.predictLogits(model, set, data, { batchSize });
  }
}
