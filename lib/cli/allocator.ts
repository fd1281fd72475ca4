/**
 * The allocator at start: lade's first statement (main.ts's `main`) starts
 * the process again in place, once, with the fastest allocator preloaded
 * (lib/torch/allocator.ts decides which and why), before libtorch is loaded
 * and before any listener or output exists.
 *
 * A re-execution rather than a child process: the PID stays the same, so a
 * terminal's Ctrl-C or Slurm's SIGTERM (sent to the whole process group)
 * reaches one lade, not a parent and a child that would each take it (and
 * a second signal means "stop at once"). Ranks that lade's launcher starts,
 * and the test runner's shards, inherit `LD_PRELOAD` and start no second
 * time.
 *
 * @module
 */

import { startWithAllocator } from "../torch/allocator.ts";
import { exitWithError } from "./errors.ts";

/**
 * Preloads the allocator `LADE_ALLOCATOR` (or lade's default) names by
 * re-executing this process, when it is installed and not preloaded yet.
 * Returns when nothing needs doing, or when the re-execution was impossible
 * (then lade runs on glibc's malloc with its thresholds, and `info` says
 * so). An unknown `LADE_ALLOCATOR` is one line and exit 2.
 */
export function arrangeAllocator(): void {
  try {
    startWithAllocator();
  } catch (error) {
    exitWithError(error);
  }
}
