/**
 * Checkpoints inside an epoch (`checkpointEvery`): every so many steps
 * and/or minutes, so that a kill loses at most that much of a long epoch.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** When train() writes checkpoints inside an epoch (see parseCheckpointEvery). */
export interface CheckpointEvery {
  /** Every this many training steps. */
  steps?: number;
  /** Every this many minutes. */
  minutes?: number;
}

/**
 * `checkpointEvery` from text: a step count (`500`) or minutes (`10m`); an
 * InputError for `checkpointEvery` otherwise.
 */
export function parseCheckpointEvery(text: string): CheckpointEvery {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m|min)?\s*$/.exec(text);
  const value = m ? Number(m[1]) : NaN;
  if (m && m[2] !== undefined && value > 0 && value <= 1e6) return { minutes: value };
  if (m && m[2] === undefined && Number.isInteger(value) && value >= 1 && value <= 2 ** 31 - 1) {
    return { steps: value };
  }
  throw new InputError(
    "checkpointEvery",
    `expected a step count (500) or minutes (10m), got '${text}'`,
  );
}

/** The steps and the time since the last checkpoint, against `CheckpointEvery`. */
export class PeriodicCheckpoints {
  readonly #every: CheckpointEvery;
  #steps = 0;
  #last = performance.now();

  /** Counts from now. */
  constructor(every: CheckpointEvery) {
    this.#every = every;
  }

  /** Counts a training step. */
  stepped(): void {
    this.#steps++;
  }

  /** Whether a checkpoint is due (the steps or the minutes have passed). */
  due(): boolean {
    const { steps, minutes } = this.#every;
    return (steps !== undefined && this.#steps >= steps) ||
      (minutes !== undefined && performance.now() - this.#last >= minutes * 60_000);
  }

  /** A checkpoint was written: counts again from now. */
  reset(): void {
    this.#steps = 0;
    this.#last = performance.now();
  }
}
