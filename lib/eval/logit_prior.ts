/**
 * The prior a run's classifier was effectively trained under, which every
 * prediction rule compensates (lib/eval/rules.ts): what its checkpoint
 * records (`logitPrior`), derived from the configuration for runs written
 * before the record existed.
 *
 * - A second stage that rebalances the classifier (`lade stage2`: tau-norm,
 *   LWS) leaves it calibrated to the uniform prior (Kang et al. 2020).
 * - Otherwise the method's loss on the batches the sampler drew
 *   (`train.sampler`): the class prior of those batches (uniform for a
 *   class-balanced sampler, as cRT retrains the classifier; the square-root
 *   prior for `sqrt`; the source prior for shuffled epochs), moved by the
 *   method's own compensation (LADE-like losses on f + log p_s: uniform for
 *   shuffled epochs).
 *
 * @module
 */

import { type SamplerKind, samplerPrior } from "../data/sampler.ts";
import { logitPriorOf } from "./rules.ts";

/** What of a run's configuration decides its prior (a TrainConfig has it all). */
export interface LogitPriorConfig {
  method: { name: string };
  train: { sampler: SamplerKind };
  /** A second stage (`lade stage2`) made the run. */
  stage2?: unknown;
}

/** The prior a run of `config` trained on `trainCounts` effectively learned under (see module notes). */
export function runLogitPrior(config: LogitPriorConfig, trainCounts: readonly number[]): number[] {
  if (config.stage2 !== undefined) return trainCounts.map(() => 1 / trainCounts.length);
  return logitPriorOf(
    config.method.name,
    trainCounts,
    samplerPrior(config.train.sampler, trainCounts),
  );
}

/** A manifest's recorded prior, or for a run written before the record, the one its config implies. */
export function manifestLogitPrior(
  m: { config: LogitPriorConfig; trainCounts: readonly number[]; logitPrior?: readonly number[] },
): number[] {
  return m.logitPrior !== undefined ? [...m.logitPrior] : runLogitPrior(m.config, m.trainCounts);
}

/**
 * A prior's name in words, against the training counts: "the uniform
 * prior", "the training prior", "the square-root prior", or "a custom prior".
 */
export function logitPriorName(prior: readonly number[], trainCounts: readonly number[]): string {
  const near = (a: readonly number[]) => a.every((v, c) => Math.abs(v - prior[c]) < 1e-9);
  if (near(samplerPrior("balanced", trainCounts))) return "the uniform prior";
  if (near(samplerPrior("shuffle", trainCounts))) return "the training prior";
  if (near(samplerPrior("sqrt", trainCounts))) return "the square-root prior";
  return "a custom prior";
}
