/**
 * lib/losses: the training objectives (softmax CE, prior CE, LADER, LADE,
 * SADE's expert losses and the baselines), and the registry of training
 * methods (methods.ts) with `createLoss`, the factory the trainer uses.
 *
 * @module
 */

export { BALPOE_LAMBDAS, balpoeLoss, checkExpertLambdas } from "./balpoe.ts";
export { classBalancedWeights } from "./class_balanced.ts";
export { crossEntropyLoss, perSampleCE } from "./cross_entropy.ts";
export { focalLoss } from "./focal.ts";
export { ladeLoss, type LadeOptions } from "./lade.ts";
export { laderLoss, type LaderOptions } from "./lader.ts";
export { ldamLoss, ldamMargins } from "./ldam.ts";
export { logitAdjustedLoss } from "./logit_adjusted.ts";
export { priorCELoss } from "./prior_ce.ts";
export {
  balancedSoftmaxLoss,
  expertLogits,
  expertMean,
  inversePrior,
  inverseSoftmaxLoss,
  SADE_EXPERTS,
  SADE_TAU,
  sadeLoss,
  type SadeLossOptions,
  splitExperts,
} from "./sade.ts";
export { countsToPrior, type PriorLike, priorTensor } from "../priors/source_prior.ts";
export {
  combineExperts,
  createLoss,
  type ExpertCombination,
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
} from "./methods.ts";
