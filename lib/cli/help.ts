/**
 * The help texts of the command tree: light enough for main.ts to load
 * before any command (each command's own module is loaded when it runs).
 *
 * @module
 */

import { METHOD_REGISTRY, METHODS } from "../losses/methods.ts";

export { TRAIN_FLAGS } from "../config/train_flags.ts";

export { METHODS };

/** The methods, a line each (from the method registry), for the help of `train`. */
export function methodsHelp(): string {
  const width = Math.max(...METHODS.map((m) => m.length));
  return "\nMethods:\n" +
    METHOD_REGISTRY.map((m) => `  ${m.name.padEnd(width)}  ${m.help}`).join("\n");
}

/** How distributed training is started, for the help of `train`. */
export function distributedHelp(): string {
  return `

Distributed (data-parallel: each rank takes its share of every global batch, the
loss sees the whole batch, gradients are summed; batch norm keeps per-rank batch
statistics):
  lade train --nproc-per-node 2 ...   ranks on this machine
  torchrun --nnodes 2 --nproc-per-node 8 ... --no-python lade train ...
                                      RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT
  srun lade train ...                 SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
On CUDA each rank uses cuda:LOCAL_RANK. A rank that dies ends the others at once, one
that hangs after --dist-timeout; --resume works with any number of ranks that divides
the batch (the run directory must be visible to every rank).`;
}
