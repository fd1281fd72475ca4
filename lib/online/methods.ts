/**
 * The online methods by name, and what each needs: the command line's
 * `--methods` and the library's `evaluateOnline` make them here.
 *
 * | name        | what it predicts round t + 1 with                            | needs             |
 * | ----------- | ------------------------------------------------------------ | ----------------- |
 * | `none`      | the prior the model assumes (no adaptation)                  |                   |
 * | `oracle`    | the true q_{t+1}                                             | the schedule      |
 * | `em-window` | MLLS on the last `window` rounds                             |                   |
 * | `em-online` | one EM step of size eta per round                            |                   |
 * | `fth`       | the average of the per-round estimates                       | (bbse: labelled)  |
 * | `flh-ftl`   | Follow the Leading History over running averages             | (bbse: labelled)  |
 * | `uogd`      | an affine layer on the logits, by OGD on the unbiased risk   | labelled data     |
 * | `atlas`     | UOGD over a pool of step sizes, combined by Hedge            | labelled data     |
 *
 * @module
 */

import { InputError } from "../errors.ts";
import type { AffineRisk } from "./affine_risk.ts";
import { Atlas } from "./atlas.ts";
import { OnlineEm } from "./em_online.ts";
import { WindowEm } from "./em_window.ts";
import { FlhFtl } from "./flh_ftl.ts";
import { FollowTheHistory } from "./fth.ts";
import type { OnlineMethod } from "./method.ts";
import { NoAdaptation } from "./none.ts";
import { Oracle } from "./oracle.ts";
import type { RoundEstimator } from "./round_estimate.ts";
import { Uogd } from "./uogd.ts";

/** The methods, in the order results list them. */
export const ONLINE_METHODS: readonly string[] = [
  "none",
  "oracle",
  "em-window",
  "em-online",
  "fth",
  "flh-ftl",
  "uogd",
  "atlas",
];

/** The methods that predict with a prior (the rest adapt the classifier). */
export const PRIOR_METHODS: readonly string[] = ONLINE_METHODS.filter(
  (m) => m !== "uogd" && m !== "atlas",
);

/** The methods that use the per-round estimator. */
export const ROUND_ESTIMATE_METHODS: readonly string[] = ["fth", "flh-ftl", "uogd", "atlas"];

/** Hyper-parameters of the methods (each reads its own; defaults in each method's file). */
export interface MethodOptions {
  /** em-window: rounds in the window. */
  window?: number;
  /** em-online: the step size (default 1 / sqrt(T)). */
  emStepSize?: number;
  /** flh-ftl: the weight update's rate. */
  flhAlpha?: number;
}

/** What the methods are made from. */
export interface MethodContext {
  /** The prior the model's logits assume: `none`'s, and every estimate's start. */
  basePrior: number[];
  /** The prior the probabilities `update` receives are calibrated to (EM's reference). */
  reference: number[];
  /** q_t of every round (the oracle's). */
  marginals: number[][];
  /** The per-round estimator. */
  roundEstimator: RoundEstimator;
  /** Labelled source data's unbiased risk (uogd, atlas). */
  risk?: AffineRisk;
  /** The smallest singular value of the confusion matrix (atlas's step sizes). */
  confusionSigma?: number;
  /** Hyper-parameters. */
  options?: MethodOptions;
}

/** Checks method names (an InputError naming `methods` for an unknown one); returns them deduplicated. */
export function checkMethodNames(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (!ONLINE_METHODS.includes(name)) {
      throw new InputError(
        "methods",
        `unknown online method '${raw}' (use ${ONLINE_METHODS.join(", ")})`,
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * Makes the method `name` for a stream of `ctx.marginals.length` rounds.
 *
 * @example Follow-the-history with MLLS round estimates
 * ```ts
 * import assert from "node:assert/strict";
 * import { createOnlineMethod } from "./methods.ts";
 * import { mllsRoundEstimator } from "./round_estimate.ts";
 *
 * const fth = createOnlineMethod("fth", {
 *   basePrior: [0.5, 0.5],
 *   reference: [0.5, 0.5],
 *   marginals: [[0.5, 0.5], [0.9, 0.1]],
 *   roundEstimator: mllsRoundEstimator([0.5, 0.5]),
 * });
 * fth.update([[0.9, 0.1], [0.8, 0.2]]); // round 0's two samples
 * assert.ok(fth.prior()![0] > 0.5); // the prior for round 1 leans to class 0
 * ```
 */
export function createOnlineMethod(name: string, ctx: MethodContext): OnlineMethod {
  const o = ctx.options ?? {};
  const horizon = ctx.marginals.length;
  const needRisk = (): AffineRisk => {
    if (ctx.risk === undefined) {
      throw new InputError(
        "source",
        `${name} needs labelled source data for its risk estimate (a held-out split)`,
      );
    }
    return ctx.risk;
  };
  switch (name) {
    case "none":
      return new NoAdaptation(ctx.basePrior);
    case "oracle":
      return new Oracle(ctx.marginals);
    case "em-window":
      return new WindowEm(ctx.reference, { window: o.window, start: ctx.basePrior });
    case "em-online":
      return new OnlineEm(ctx.reference, {
        stepSize: o.emStepSize ?? Math.min(1, 1 / Math.sqrt(horizon)),
        start: ctx.basePrior,
      });
    case "fth":
      return new FollowTheHistory(ctx.roundEstimator, ctx.basePrior);
    case "flh-ftl":
      return new FlhFtl(ctx.roundEstimator, ctx.basePrior, { alpha: o.flhAlpha });
    case "uogd":
      return new Uogd(needRisk(), ctx.roundEstimator, { horizon });
    case "atlas": {
      const risk = needRisk();
      return new Atlas(risk, ctx.roundEstimator, {
        horizon,
        confusionSigma: ctx.confusionSigma ?? NaN,
      });
    }
    default:
      throw new InputError("methods", `unknown online method '${name}'`);
  }
}
