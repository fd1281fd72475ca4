/**
 * lib/train: the training loop (in one process, or as one rank of a
 * data-parallel job), its configuration, schedules, optimiser, checkpoints,
 * metrics and the predictions of finished runs.
 *
 * @module
 */

export { predictLogits } from "./predict_logits.ts";
export {
  type Agreement,
  checkGlobalBatch,
  DataParallel,
  type DistributedOptions,
  rankDevice,
  rankThreads,
} from "./data_parallel.ts";
export {
  CHECKPOINT_DIR,
  type CheckpointState,
  loadCheckpoint,
  MANIFEST,
  type Manifest,
  readManifest,
  saveCheckpoint,
} from "./checkpoint.ts";
export {
  type ConfigOverrides,
  ConfigSchema,
  configToYaml,
  mergeConfig,
  parseConfigText,
  readConfigFile,
  resolveConfig,
  type TrainConfig,
  validateConfig,
} from "./config.ts";
export { DEFAULT_CONFIG } from "./default_config.ts";
export { type EpochMetrics, METRICS_FILE, readMetrics } from "./metrics.ts";
export { SGD, type SgdOptions } from "./optimizer.ts";
export {
  predictRun,
  readRunInfo,
  runHasValidation,
  type RunPredictions,
  type RunSplit,
} from "./predict.ts";
export { learningRate, type ScheduleConfig } from "./schedule.ts";
export {
  CONFIG_FILE,
  loadConfigDataset,
  RESULT_FILE,
  type TestAccuracy,
  train,
  type TrainOptions,
  type TrainResult,
  useDevice,
} from "./trainer.ts";
