/**
 * lib/priors: source priors from counts, target priors of the named shifts,
 * and estimation of an unknown target prior (EM, optionally after source
 * calibration; BBSE).
 *
 * @module
 */

export {
  countsToPrior,
  countsToPrior as sourcePrior,
  type PriorLike,
  priorTensor,
} from "./source_prior.ts";
export { bbsePrior, type BbseResult, confusionMatrix } from "./bbse.ts";
export {
  applyCalibration,
  calibratedEmPrior,
  type CalibratedEmResult,
  type Calibration,
  CALIBRATION_KINDS,
  type CalibrationKind,
  type CalibrationOptions,
  fitCalibration,
  labelFrequencies,
} from "./calibration.ts";
export { klDivergence, l1Distance } from "./distance.ts";
export { type EmOptions, emPrior, type EmResult } from "./em.ts";
export { type EstimateOptions, estimateTargetPrior, ESTIMATORS } from "./estimate.ts";
export { solveLinear } from "./solve.ts";
