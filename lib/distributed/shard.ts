/**
 * Splitting global batches across ranks. Every epoch has one global sample
 * order (from the seed and the epoch, as in a single process); rank r takes
 * the r-th contiguous slice of every global batch, so concatenating the
 * ranks' slices in rank order (`ProcessGroup.allGather`) gives back the global
 * batch in its single-process order.
 *
 * ```ts
 * import { localBatchSize, rankShare, shareSizes } from "./shard.ts";
 * localBatchSize(256, 4); // 64
 * shareSizes(10, 4); // [3, 3, 2, 2]
 * rankShare(Int32Array.from([7, 1, 4, 9, 2, 5]), 1, 2); // Int32Array [9, 2, 5]
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";

function checkWorld(rank: number, worldSize: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new InputError("worldSize", `must be a positive integer (got ${worldSize})`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new InputError("rank", `must be an integer in 0..${worldSize - 1} (got ${rank})`);
  }
}

/**
 * Each rank's batch when the global batch is `batchSize`: batchSize /
 * worldSize, or an InputError when the world size does not divide it.
 *
 * @example The global batch over four ranks
 * ```ts
 * import assert from "node:assert/strict";
 * import { localBatchSize } from "./mod.ts";
 *
 * assert.equal(localBatchSize(256, 4), 64);
 * assert.throws(() => localBatchSize(10, 4), /does not divide among 4 ranks/);
 * ```
 */
export function localBatchSize(batchSize: number, worldSize: number): number {
  checkWorld(0, worldSize);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InputError("batchSize", `must be a positive integer (got ${batchSize})`);
  }
  if (batchSize % worldSize !== 0) {
    const lower = Math.floor(batchSize / worldSize) * worldSize;
    const suggestion = lower > 0 ? `${lower} or ${lower + worldSize}` : `${worldSize}`;
    throw new InputError(
      "batchSize",
      `the global batch ${batchSize} does not divide among ${worldSize} ranks (use a multiple of ${worldSize}, such as ${suggestion})`,
    );
  }
  return batchSize / worldSize;
}

/**
 * The sizes of the ranks' slices of a global batch of `n` samples: equal when
 * the world size divides n, otherwise the first n mod worldSize ranks take one
 * more (a short last batch).
 */
export function shareSizes(n: number, worldSize: number): number[] {
  checkWorld(0, worldSize);
  if (!Number.isInteger(n) || n < 0) {
    throw new InputError("n", `must be a non-negative integer (got ${n})`);
  }
  const base = Math.floor(n / worldSize), extra = n % worldSize;
  return Array.from({ length: worldSize }, (_, r) => base + (r < extra ? 1 : 0));
}

/** Where rank `rank`'s slice of a global batch of `n` samples starts, and its length. */
export function shareRange(n: number, rank: number, worldSize: number): {
  start: number;
  length: number;
} {
  checkWorld(rank, worldSize);
  const sizes = shareSizes(n, worldSize);
  let start = 0;
  for (let r = 0; r < rank; r++) start += sizes[r];
  return { start, length: sizes[rank] };
}

/**
 * Rank `rank`'s slice of a global batch (sample indices), a view of the same memory.
 *
 * @example Rank 1's half of a global batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { rankShare } from "./mod.ts";
 *
 * assert.deepEqual([...rankShare(Int32Array.from([7, 1, 4, 9, 2, 5]), 1, 2)], [9, 2, 5]);
 * ```
 */
export function rankShare(globalBatch: Int32Array, rank: number, worldSize: number): Int32Array {
  const { start, length } = shareRange(globalBatch.length, rank, worldSize);
  return globalBatch.subarray(start, start + length);
}
