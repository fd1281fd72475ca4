/**
 * lib/distributed: data-parallel training over libtorch's c10d. The rank
 * environment (torchrun, Slurm), process groups (Gloo, NCCL) with bucketed
 * gradient all-reduce and a differentiable all-gather, the ranks' shares of a
 * global batch, and a local launcher.
 *
 * @module
 */

export {
  DEFAULT_MASTER_PORT,
  type Env,
  expandHostList,
  firstHost,
  parseRankEnv,
  type RankEnv,
} from "./env.ts";
export {
  type AllReduceOptions,
  availableBackends,
  type Backend,
  BACKENDS,
  checkBackend,
  DEFAULT_BUCKET_BYTES,
  DEFAULT_TIMEOUT_SECONDS,
  defaultBackend,
  parseBackend,
  ProcessGroup,
  type ProcessGroupOptions,
  resolveBackend,
} from "./process_group.ts";
export { allGatherBatch, allReduceGradients, type GradientReduction } from "./collectives.ts";
export { localBatchSize, rankShare, shareRange, shareSizes } from "./shard.ts";
export {
  freePort,
  LAUNCHER_PID_ENV,
  launchLocal,
  type LaunchOptions,
  type LaunchResult,
  type RankExit,
  selfCommand,
  watchLauncher,
} from "./launcher.ts";
