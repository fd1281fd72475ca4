/**
 * lib/online: online label shift. Streams whose label distribution drifts
 * (schedules between two marginals, or a user's file of marginals), the
 * online estimators and adapters behind one interface (`update` with a
 * round's probabilities, then `prior()` or `layer()` for the next round),
 * the per-round estimates they build on (BBSE, MLLS), and the evaluation
 * that runs them all on the same stream with a model's logits computed once.
 *
 * @module
 */

export {
  checkRounds,
  scheduleCoefficients,
  type ScheduleKind,
  scheduleMarginals,
  type ScheduleOptions,
  SCHEDULES,
} from "./schedules.ts";
export { endpointPrior, ENDPOINTS } from "./endpoints.ts";
export { parseMarginals, readMarginalsFile } from "./marginals_file.ts";
export { checkPerRound, sampleStream, type Stream } from "./stream.ts";
export { meanRow, type ProbRows, probRows, type ProbsLike, sliceRows } from "./probs.ts";
export { checkDistribution, projectToSimplex, uniformPrior } from "./simplex.ts";
export { type MllsOptions, mllsPrior } from "./mlls.ts";
export { softConfusion } from "./confusion.ts";
export {
  bbseRoundEstimator,
  mllsRoundEstimator,
  ROUND_ESTIMATORS,
  type RoundEstimator,
} from "./round_estimate.ts";
export type { OnlineMethod } from "./method.ts";
export { NoAdaptation } from "./none.ts";
export { Oracle } from "./oracle.ts";
export { WindowEm, type WindowEmOptions } from "./em_window.ts";
export { OnlineEm, type OnlineEmOptions } from "./em_online.ts";
export { FollowTheHistory } from "./fth.ts";
export { FlhFtl, type FlhFtlOptions } from "./flh_ftl.ts";
export { AffineRisk, projectToBall } from "./affine_risk.ts";
export { Uogd, type UogdOptions } from "./uogd.ts";
export { Atlas, type AtlasOptions } from "./atlas.ts";
export {
  checkMethodNames,
  createOnlineMethod,
  type MethodContext,
  type MethodOptions,
  ONLINE_METHODS,
  PRIOR_METHODS,
  ROUND_ESTIMATE_METHODS,
} from "./methods.ts";
export {
  OnlineEvaluator,
  type OnlineEvaluatorOptions,
  type OnlineMethodResult,
  type OnlineModel,
  type OnlineResult,
  type RoundEstimatorKind,
} from "./evaluate.ts";
export { defaultSmoothing, movingAverage, onlineSpec } from "./plot.ts";
export { type OnlineReportContext, scheduleFileName, writeOnlineReport } from "./report.ts";
