/**
 * The CPU threads of the commands that run once (evaluate, estimate-prior,
 * compare, predict, stage2, info): the cores other processes leave free,
 * measured from lade's start (lib/torch/threads.ts), set when libtorch is
 * loaded, so a command that never loads it never waits for the measure.
 * `train` chooses its own, and revises it as it runs (lib/train/threads.ts).
 *
 * @module
 */

import { setNumThreads } from "../torch/device.ts";
import { onLibraryOpen } from "../torch/ffi.ts";
import { defaultThreads, markProcessStart } from "../torch/threads.ts";

/** Starts the measure of other processes' load: lade's first statement after the allocator. */
export function startLoadMeasure(): void {
  markProcessStart();
}

/** Sets libtorch's thread count to the default once libtorch is loaded. */
export function useDefaultThreads(): void {
  onLibraryOpen(() => setNumThreads(defaultThreads().threads));
}
