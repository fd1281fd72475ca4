/**
 * lade as a library: libtorch tensors from TypeScript, long-tailed data and
 * label-shift protocols, the LADE losses, target-prior estimation, SADE's
 * expert losses and prior-free test-time aggregation, and online label
 * shift (drifting streams, online estimators and adapters).
 *
 * ```ts
 * import { ladeLoss, tensor } from "./mod.ts";
 * const logits = tensor([2, 0.5, -1, 0.1, 1.2, 0.3], [2, 3]);
 * logits.requiresGrad = true;
 * const labels = tensor(new BigInt64Array([0n, 1n]));
 * const loss = ladeLoss(logits, labels, [0.7, 0.2, 0.1], { alpha: 0.1, lambda: 0.1 });
 * loss.backward();
 * ```
 *
 * Every error lade throws on purpose is a {@link LadeError}: bad input is an
 * {@link InputError} naming the parameter at fault, native failures are
 * {@link TorchError}s.
 *
 * ```ts
 * import { InputError, longTailCounts } from "./mod.ts";
 * try {
 *   longTailCounts(100, 10, 0.5);
 * } catch (e) {
 *   console.assert(e instanceof InputError && e.parameter === "ratio");
 * }
 * ```
 *
 * @module
 */

export * from "./lib/torch/mod.ts";
export {
  encodeSafetensors,
  parseSafetensors,
  parseTorchStateDict,
  type RawTensor,
  readSafetensors,
  readWeightsFile,
  type SafetensorsFile,
  type WeightsFile,
  type WeightsMetadata,
  writeSafetensors,
} from "./lib/weights/mod.ts";
export {
  DisposedError,
  InputError,
  LadeError,
  NativeLibraryError,
  StoppedError,
  TorchError,
} from "./lib/errors.ts";
export { OutputWriteError } from "./lib/fs.ts";
export {
  applyColorJitter,
  type Batch,
  BatchLoader,
  classCounts,
  type ColorJitterDraw,
  colorJitterDraw,
  type DataSplits,
  holdOutPerClass,
  type ImageSet,
  type ImbalanceType,
  type LabelsLike,
  labelTensor,
  loadDataset,
  type LoaderOptions,
  type LoadOptions,
  longTailCounts,
  parseShift,
  readShiftFile,
  type SamplerKind,
  type Shift,
  SHIFT_GRID,
  shiftedCounts,
  shiftIndices,
  type ShiftSet,
  shiftSetsFromJson,
  type ShotGroups,
  shotGroups,
  strongAugment,
  type StrongAugmentInput,
  type StrongAugmentOptions,
} from "./lib/data/mod.ts";
export {
  balancedSoftmaxLoss,
  BALPOE_LAMBDAS,
  balpoeLoss,
  classBalancedWeights,
  combineExperts,
  createLoss,
  crossEntropyLoss,
  type ExpertCombination,
  expertLogits,
  expertMean,
  focalLoss,
  inversePrior,
  inverseSoftmaxLoss,
  ladeLoss,
  type LadeOptions,
  laderLoss,
  type LaderOptions,
  ldamLoss,
  logitAdjustedLoss,
  type LogitPrior,
  type Loss,
  type LossContext,
  type LossFn,
  type LossOptions,
  type Method,
  METHOD_REGISTRY,
  methodByName,
  type MethodDefaults,
  methodExperts,
  METHODS,
  predictionExperts,
  type PredictionRule,
  priorCELoss,
  type PriorLike,
  SADE_EXPERTS,
  SADE_TAU,
  sadeLoss,
  type SadeLossOptions,
  splitExperts,
} from "./lib/losses/mod.ts";
export {
  aggregateLogits,
  type Aggregation,
  type AggregationOptions,
  learnAggregation,
  viewSimilarity,
} from "./lib/eval/aggregation.ts";
export type { SourceData } from "./lib/eval/evaluation.ts";
export {
  bbsePrior,
  type BbseResult,
  type CalibrationKind,
  type EmOptions,
  emPrior,
  type EmResult,
  type EstimateOptions,
  estimateTargetPrior,
  klDivergence,
  l1Distance,
  sourcePrior,
} from "./lib/priors/mod.ts";
export {
  allGatherBatch,
  allReduceGradients,
  type AllReduceOptions,
  availableBackends,
  type Backend,
  BACKENDS,
  defaultBackend,
  type Env,
  type GradientReduction,
  launchLocal,
  type LaunchOptions,
  type LaunchResult,
  localBatchSize,
  parseRankEnv,
  ProcessGroup,
  type ProcessGroupOptions,
  type RankEnv,
  type RankExit,
  rankShare,
} from "./lib/distributed/mod.ts";
export {
  AffineRisk,
  Atlas,
  type AtlasOptions,
  bbseRoundEstimator,
  createOnlineMethod,
  endpointPrior,
  ENDPOINTS,
  FlhFtl,
  type FlhFtlOptions,
  FollowTheHistory,
  type MethodContext,
  type MethodOptions,
  type MllsOptions,
  mllsRoundEstimator,
  NoAdaptation,
  ONLINE_METHODS,
  OnlineEm,
  type OnlineEmOptions,
  OnlineEvaluator,
  type OnlineEvaluatorOptions,
  type OnlineMethod,
  type OnlineMethodResult,
  type OnlineModel,
  type OnlineResult,
  Oracle,
  parseMarginals,
  type ProbRows,
  probRows,
  type ProbsLike,
  projectToSimplex,
  readMarginalsFile,
  type RoundEstimator,
  type RoundEstimatorKind,
  sampleStream,
  type ScheduleKind,
  scheduleMarginals,
  type ScheduleOptions,
  SCHEDULES,
  softConfusion,
  type Stream,
  Uogd,
  type UogdOptions,
  WindowEm,
  type WindowEmOptions,
} from "./lib/online/mod.ts";
