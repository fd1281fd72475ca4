/**
 * A label-shift stream over a labelled test split: T rounds of n samples,
 * round t's labels drawn from q_t and its images from the test images of
 * those classes. Each class's images are dealt from a seeded shuffle, so
 * no image repeats while its class has unused ones (within a round and
 * across the stream); a class whose images run out is reshuffled and dealt
 * again, and the stream says so (`exhausted`, `reused`). All draws come
 * from one generator seeded by `seed`, so a stream is reproducible.
 *
 * ```ts
 * import { sampleStream } from "../../mod.ts";
 * const labels = Int32Array.from([0, 0, 0, 1, 1, 1]);
 * const s = sampleStream(labels, [[1, 0], [0, 1]], 2, 7);
 * console.assert(s.labels[0] === 0 && s.labels[2] === 1 && s.reused === 0);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { epochSeed } from "../data/sampler.ts";
import { Generator, rand, randperm } from "../torch/create.ts";

/** A sampled stream. */
export interface Stream {
  /** Rounds T. */
  rounds: number;
  /** Samples per round n. */
  perRound: number;
  /** q_t of every round (what the round's labels were drawn from). */
  marginals: number[][];
  /** Test-set indices, round by round: round t is [t * n, (t + 1) * n). */
  indices: Int32Array;
  /** Their labels. */
  labels: Int32Array;
  /** Draws of an image already drawn earlier in the stream (0 unless a class ran out). */
  reused: number;
  /** Classes that ran out of test images, with the round at which each first did. */
  exhausted: { label: number; round: number; images: number }[];
}

/** Checks a per-round sample count n. */
export function checkPerRound(perRound: number): void {
  if (!Number.isInteger(perRound) || perRound < 1) {
    throw new InputError("perRound", `must be a positive integer, got ${perRound}`);
  }
}

/**
 * Draws a stream from the test split with `labels`: round t has `perRound`
 * samples whose labels follow `marginals[t]`.
 *
 * @example Two rounds, each of one class
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleStream } from "./stream.ts";
 *
 * const labels = Int32Array.from([0, 0, 0, 1, 1, 1]);
 * const stream = sampleStream(labels, [[1, 0], [0, 1]], 2, 7);
 * assert.deepEqual([...stream.labels], [0, 0, 1, 1]);
 * assert.ok([...stream.indices].every((i, k) => labels[i] === stream.labels[k]));
 * ```
 */
export function sampleStream(
  labels: Int32Array,
  marginals: readonly (readonly number[])[],
  perRound: number,
  seed = 0,
): Stream {
  checkPerRound(perRound);
  const T = marginals.length;
  if (T === 0) throw new InputError("rounds", "must be a positive integer, got 0");
  const classes = marginals[0].length;
  const pools: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y < 0 || y >= classes) {
      throw new InputError("labels", `label ${y} at index ${i} is outside 0..${classes - 1}`);
    }
    pools[y].push(i);
  }
  marginals.forEach((q, t) => {
    if (q.length !== classes) {
      throw new InputError("marginals", `round ${t} has ${q.length} classes, expected ${classes}`);
    }
    const c = q.findIndex((v, k) => v > 0 && pools[k].length === 0);
    if (c >= 0) {
      throw new InputError(
        "marginals",
        `round ${t} gives class ${c} probability ${q[c]} but the test split has no image of it`,
      );
    }
  });
  using gen = new Generator(epochSeed(seed, 0));
  using u = rand([T * perRound], { generator: gen, dtype: "float64" });
  const draws = u.toArray() as Float64Array;
  const shuffled = (c: number): number[] => {
    using p = randperm(pools[c].length, { generator: gen });
    return Array.from(p.toArray() as BigInt64Array, (k) => pools[c][Number(k)]);
  };
  const decks: (number[] | null)[] = new Array(classes).fill(null);
  const dealt = new Array<number>(classes).fill(0);
  const indices = new Int32Array(T * perRound);
  const out = new Int32Array(T * perRound);
  const exhausted: Stream["exhausted"] = [];
  let reused = 0;
  const cumulative = new Float64Array(classes);
  for (let t = 0; t < T; t++) {
    let total = 0;
    for (let c = 0; c < classes; c++) cumulative[c] = total += marginals[t][c];
    for (let k = 0; k < perRound; k++) {
      // Inverse CDF, landing only on classes of positive probability.
      const target = draws[t * perRound + k] * total;
      let y = 0;
      while (y < classes - 1 && (cumulative[y] <= target || marginals[t][y] === 0)) y++;
      while (marginals[t][y] === 0) y--;
      const size = pools[y].length;
      if (dealt[y] % size === 0) {
        if (dealt[y] === size) exhausted.push({ label: y, round: t, images: size });
        decks[y] = shuffled(y);
      }
      if (dealt[y] >= size) reused++;
      const i = decks[y]![dealt[y] % size];
      dealt[y]++;
      indices[t * perRound + k] = i;
      out[t * perRound + k] = y;
    }
  }
  return {
    rounds: T,
    perRound,
    marginals: marginals.map((q) => [...q]),
    indices,
    labels: out,
    reused,
    exhausted,
  };
}
