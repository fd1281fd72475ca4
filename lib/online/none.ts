/**
 * No adaptation: the prior the model's logits already assume (uniform for
 * LADE-like models, the training prior for softmax ones), every round.
 *
 * ```ts
 * import { NoAdaptation } from "../../mod.ts";
 * const none = new NoAdaptation([0.5, 0.5]);
 * none.update([[1, 0]]);
 * console.assert(none.prior()[0] === 0.5);
 * ```
 *
 * @module
 */

import type { OnlineMethod } from "./method.ts";
import { probRows, type ProbsLike } from "./probs.ts";
import { checkDistribution } from "./simplex.ts";

/** The fixed prior of the model as trained. */
export class NoAdaptation implements OnlineMethod {
  /** "none". */
  readonly name = "none";
  /** Classes. */
  readonly classes: number;
  readonly #prior: number[];

  /** `basePrior`: the prior the model's logits assume. */
  constructor(basePrior: readonly number[]) {
    this.classes = basePrior.length;
    this.#prior = checkDistribution(basePrior, this.classes, "basePrior");
  }

  /** The base prior. */
  prior(): number[] {
    return [...this.#prior];
  }

  /** Checks the probabilities and ignores them. */
  update(probs: ProbsLike): void {
    probRows(probs, this.classes);
  }
}
