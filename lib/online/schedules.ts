/**
 * How the label distribution moves over a stream: q_t = (1 - a_t) from +
 * a_t to between two marginals, with a_t by the standard schedules of the
 * online label shift literature (as Baby et al.'s code generates them; T
 * rounds, t = 0..T-1, period P and flip probability p):
 * - monotone: a_t = t / T (from `from` toward `to`);
 * - square: a_t = floor(t / P) mod 2 (P = floor(sqrt(T)) by default);
 * - sinusoidal: a_t = sin(pi (t mod P) / P);
 * - bernoulli: a_0 = 0, and after each round a_t flips (0 <-> 1) with
 *   probability p (1 / sqrt(T) by default), drawn from a seeded generator.
 *
 * ```ts
 * import { scheduleMarginals } from "../../mod.ts";
 * const q = scheduleMarginals("square", [1, 0], [0, 1], { rounds: 4, period: 2 });
 * console.assert(q[1][0] === 1 && q[2][1] === 1);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { epochSeed } from "../data/sampler.ts";
import { Generator, rand } from "../torch/create.ts";
import { checkDistribution } from "./simplex.ts";

/** A schedule's name. */
export type ScheduleKind = "monotone" | "square" | "sinusoidal" | "bernoulli";

/** The schedules, in the order `all` runs them. */
export const SCHEDULES: readonly ScheduleKind[] = ["monotone", "square", "sinusoidal", "bernoulli"];

/** Options of {@link scheduleMarginals}. */
export interface ScheduleOptions {
  /** Rounds T (a positive integer). */
  rounds: number;
  /** Square and sinusoidal: the period P in rounds (default floor(sqrt(T)), at least 1). */
  period?: number;
  /** Bernoulli: the probability p of a flip after a round (default 1 / sqrt(T)). */
  flipProbability?: number;
  /** Bernoulli: the seed of the flips (default 0). */
  seed?: number;
}

/** Checks a round count T (an InputError for `rounds`). */
export function checkRounds(rounds: number): void {
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new InputError("rounds", `must be a positive integer, got ${rounds}`);
  }
}

/** The coefficient a_t of each round (0: `from`, 1: `to`). */
export function scheduleCoefficients(kind: ScheduleKind, options: ScheduleOptions): number[] {
  const T = options.rounds;
  checkRounds(T);
  const period = options.period ?? Math.max(1, Math.floor(Math.sqrt(T)));
  if (!Number.isInteger(period) || period < 1) {
    throw new InputError("period", `must be a positive integer, got ${options.period}`);
  }
  const t = Array.from({ length: T }, (_, i) => i);
  switch (kind) {
    case "monotone":
      return t.map((i) => i / T);
    case "square":
      return t.map((i) => Math.floor(i / period) % 2);
    case "sinusoidal":
      return t.map((i) => Math.sin(Math.PI * (i % period) / period));
    case "bernoulli": {
      const p = options.flipProbability ?? 1 / Math.sqrt(T);
      if (!(p >= 0 && p <= 1)) {
        throw new InputError("flipProbability", `must be in [0, 1], got ${p}`);
      }
      using gen = new Generator(epochSeed(options.seed ?? 0, 1));
      using u = rand([T], { generator: gen, dtype: "float64" });
      const draws = u.toArray() as Float64Array;
      let a = 0;
      return t.map((i) => {
        const now = a;
        if (draws[i] < p) a = 1 - a;
        return now;
      });
    }
    default:
      throw new InputError(
        "schedule",
        `unknown schedule '${kind}' (use ${SCHEDULES.join(", ")}, or a file of marginals)`,
      );
  }
}

/**
 * q_t = (1 - a_t) from + a_t to for every round of the schedule.
 *
 * @example A monotone shift over four rounds
 * ```ts
 * import assert from "node:assert/strict";
 * import { scheduleMarginals } from "./schedules.ts";
 *
 * assert.deepEqual(scheduleMarginals("monotone", [1, 0], [0, 1], { rounds: 4 }), [
 *   [1, 0],
 *   [0.75, 0.25],
 *   [0.5, 0.5],
 *   [0.25, 0.75],
 * ]);
 * ```
 */
export function scheduleMarginals(
  kind: ScheduleKind,
  from: readonly number[],
  to: readonly number[],
  options: ScheduleOptions,
): number[][] {
  const a = checkDistribution(from, from.length, "from");
  const b = checkDistribution(to, from.length, "to");
  return scheduleCoefficients(kind, options).map((x) => a.map((v, c) => (1 - x) * v + x * b[c]));
}
