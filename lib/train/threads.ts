/**
 * How many CPU threads a training uses, and why: a count the recipe or
 * `--threads` fixes, a rank's share of the node's cores, or by default the
 * cores other processes leave free, looked at again as the run goes
 * (lib/torch/threads.ts explains why: libgomp's spinning threads collapse
 * beside another busy process).
 *
 * @module
 */

import { ThreadGovernor } from "../torch/threads.ts";
import { rankThreads } from "./data_parallel.ts";
import type { RankEnv } from "../distributed/env.ts";

/** A training's thread count, why, and the governor that revises a default one. */
export interface TrainingThreads {
  threads: number;
  /** In words, for the run's start line. */
  why: string;
  /** Present for the default count of a single process: it revises the count as the run goes. */
  governor?: ThreadGovernor;
}

/**
 * The thread count of a training: `threads` (the recipe's or `--threads`;
 * 0 is the default), a rank's share of the cores for a distributed rank,
 * else `OMP_NUM_THREADS` when set, else the cores other processes leave free.
 */
export function trainingThreads(
  threads: number,
  rank: Pick<RankEnv, "localWorldSize"> | undefined,
): TrainingThreads {
  const cores = navigator.hardwareConcurrency;
  if (threads > 0) return { threads, why: "fixed by the threads setting" };
  if (rank) {
    return {
      threads: rankThreads(rank),
      why: `this rank's share of ${cores} cores among ${rank.localWorldSize ?? 1} local ranks`,
    };
  }
  // OMP_NUM_THREADS fixes the default, as it does for the other commands
  // (and libtorch's own default): a count that does not follow the load.
  const omp = Deno.env.get("OMP_NUM_THREADS")?.trim();
  if (omp !== undefined && /^[1-9][0-9]*$/.test(omp)) {
    return { threads: Number(omp), why: `OMP_NUM_THREADS=${omp}` };
  }
  const governor = new ThreadGovernor({ cores });
  const first = governor.initial();
  return {
    threads: first.threads,
    why: `the default: ${first.why}; looked at again as the run goes; a threads setting fixes it`,
    governor,
  };
}
