/**
 * The oracle: the true label distribution q_t of each round, which the
 * stream drew the round from. Not an estimator: the reference the others
 * are measured against (their regret is against it).
 *
 * ```ts
 * import { Oracle } from "../../mod.ts";
 * const oracle = new Oracle([[0.5, 0.5], [0.9, 0.1]]);
 * console.assert(oracle.prior()[0] === 0.5); // round 0
 * oracle.update([[0.7, 0.3]]);
 * console.assert(oracle.prior()[0] === 0.9); // round 1
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { OnlineMethod } from "./method.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import { checkDistribution } from "./simplex.ts";

/** Predicts round t with the stream's true q_t. */
export class Oracle implements OnlineMethod {
  /** "oracle". */
  readonly name = "oracle";
  /** Classes. */
  readonly classes: number;
  readonly #marginals: number[][];
  #round = 0;

  /** `marginals`: q_t of every round, in order. */
  constructor(marginals: readonly (readonly number[])[]) {
    if (marginals.length === 0) throw new InputError("marginals", "need at least one round");
    this.classes = marginals[0].length;
    // Checked, but kept as given: the stream drew from these very values.
    marginals.forEach((q, t) => checkDistribution(q, this.classes, "marginals", `round ${t}`));
    this.#marginals = marginals.map((q) => [...q]);
  }

  /** q of the next round (the last round's after the stream ends). */
  prior(): number[] {
    return [...this.#marginals[Math.min(this.#round, this.#marginals.length - 1)]];
  }

  /** Moves on to the next round. */
  update(probs: ProbsLike): void {
    probRows(probs, this.classes);
    this.#round++;
  }
}
