/**
 * Batch EM on a sliding window: after each round, MLLS on the posteriors of
 * the last `window` rounds together. A window of w rounds trades the noise
 * of w * n samples against a lag of about w / 2 rounds. Each fit starts
 * from the window's mean probability (as the MLLS of Baby et al.'s code
 * does), not from the previous estimate: EM moves a class whose prior is
 * near 0 by tiny steps, so a warm start left near 0 after the class was
 * absent would stop there (the steps fall below the tolerance) long after
 * the class came back.
 *
 * ```ts
 * import { WindowEm } from "../../mod.ts";
 * const em = new WindowEm([0.5, 0.5], { window: 2 });
 * em.update([[0.9, 0.1], [0.6, 0.4]]);
 * console.assert(em.prior()[0] > 0.5);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { OnlineMethod } from "./method.ts";
import { type MllsOptions, mllsPrior } from "./mlls.ts";
import { type ProbRows, probRows, type ProbsLike } from "./probs.ts";
import { checkDistribution } from "./simplex.ts";

/** Options of {@link WindowEm}. */
export interface WindowEmOptions extends MllsOptions {
  /** Rounds in the window (default 50). */
  window?: number;
  /** The estimate before the first round (default `reference`). */
  start?: readonly number[];
}

/** MLLS over the last `window` rounds. */
export class WindowEm implements OnlineMethod {
  /** "em-window". */
  readonly name = "em-window";
  /** Classes. */
  readonly classes: number;
  /** Rounds in the window. */
  readonly window: number;
  readonly #reference: number[];
  readonly #rounds: ProbRows[] = [];
  readonly #options: MllsOptions;
  #prior: Float64Array;

  /** `reference`: the prior the posteriors are calibrated to. */
  constructor(reference: readonly number[], options: WindowEmOptions = {}) {
    this.classes = reference.length;
    this.#reference = checkDistribution(reference, this.classes, "reference");
    this.window = options.window ?? 50;
    if (!Number.isInteger(this.window) || this.window < 1) {
      throw new InputError("window", `must be a positive integer, got ${options.window}`);
    }
    this.#options = options;
    this.#prior = Float64Array.from(
      checkDistribution(options.start ?? this.#reference, this.classes, "start"),
    );
  }

  /** The window's MLLS estimate. */
  prior(): number[] {
    return Array.from(this.#prior);
  }

  /** Adds the round to the window (dropping the oldest) and refits. */
  update(probs: ProbsLike): void {
    this.#rounds.push(probRows(probs, this.classes));
    if (this.#rounds.length > this.window) this.#rounds.shift();
    const start = new Float64Array(this.classes);
    let rows = 0;
    for (const r of this.#rounds) {
      for (let k = 0; k < r.data.length; k++) start[k % this.classes] += r.data[k];
      rows += r.rows;
    }
    const total = start.reduce((a, b) => a + b, 0);
    if (rows === 0 || !(total > 0)) return;
    this.#prior = mllsPrior(
      this.#rounds,
      this.#reference,
      start.map((v) => v / total),
      this.#options,
    );
  }
}
