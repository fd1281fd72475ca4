/**
 * The order of samples in an epoch: a seeded shuffle, or class-balanced or
 * square-root sampling (with replacement). Every draw comes from a generator
 * seeded by (seed, epoch) alone, so epoch e is the same however it is reached
 * (a resumed run replays it exactly).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { Generator, rand, randperm } from "../torch/create.ts";

/** How a training epoch draws its samples. */
export type SamplerKind = "shuffle" | "balanced" | "sqrt";

/** The sampler names. */
export const SAMPLERS: readonly SamplerKind[] = ["shuffle", "balanced", "sqrt"];

/**
 * The class prior an epoch of `sampler` draws from, for classes of `counts`
 * training images: the counts normalised (`shuffle`), uniform (`balanced`),
 * or proportional to their square roots (`sqrt`).
 */
export function samplerPrior(sampler: SamplerKind, counts: readonly number[]): number[] {
  const weights = sampler === "shuffle"
    ? [...counts]
    : sampler === "balanced"
    ? counts.map((n) => (n > 0 ? 1 : 0))
    : sampler === "sqrt"
    ? counts.map((n) => Math.sqrt(n))
    : undefined;
  if (weights === undefined) {
    throw new InputError("sampler", `unknown sampler '${sampler}' (use ${SAMPLERS.join(", ")})`);
  }
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new InputError("trainCounts", "must sum to a positive number");
  return weights.map((w) => w / total);
}

const MASK = (1n << 64n) - 1n;

function splitmix(x: bigint): bigint {
  x = (x + 0x9e3779b97f4a7c15n) & MASK;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return x ^ (x >> 31n);
}

/** A 64-bit seed derived from (seed, epoch) only. */
export function epochSeed(seed: number, epoch: number): bigint {
  return splitmix(splitmix(BigInt(seed) & MASK) ^ BigInt(epoch));
}

/**
 * A 64-bit seed derived from (seed, epoch, step) and a `stream` that keeps
 * one use's draws apart from another's (mixup's from the augmentation's):
 * a batch's draws then depend on nothing else, so a resumed run makes them
 * again exactly.
 */
export function stepSeed(seed: number, epoch: number, step: number, stream: number): bigint {
  return splitmix(splitmix(epochSeed(seed, epoch) ^ BigInt(step)) ^ BigInt(stream));
}

/**
 * Positions 0..n-1 in the order epoch `epoch` visits them. `shuffle` is a
 * permutation; `balanced` draws n samples with replacement, each class
 * equally likely; `sqrt` draws classes with probability proportional to the
 * square root of their counts.
 */
export function epochOrder(
  labels: Int32Array,
  sampler: SamplerKind,
  seed: number,
  epoch: number,
): Int32Array {
  const n = labels.length;
  using gen = new Generator(epochSeed(seed, epoch));
  if (sampler === "shuffle") {
    using perm = randperm(n, { generator: gen });
    return Int32Array.from(perm.toArray() as BigInt64Array, Number);
  }
  if (sampler !== "balanced" && sampler !== "sqrt") {
    throw new InputError("sampler", `unknown sampler '${sampler}' (use ${SAMPLERS.join(", ")})`);
  }
  if (n === 0) return new Int32Array(0);
  // Per-sample weight: 1/n_c (balanced) or 1/sqrt(n_c) (square root); then
  // inverse-CDF sampling over the cumulative weights.
  const counts = new Map<number, number>();
  for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const c = counts.get(labels[i])!;
    total += sampler === "balanced" ? 1 / c : 1 / Math.sqrt(c);
    cumulative[i] = total;
  }
  using u = rand([n], { generator: gen, dtype: "float64" });
  const draws = u.toArray() as Float64Array;
  const out = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const target = draws[k] * total;
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    out[k] = lo;
  }
  return out;
}
