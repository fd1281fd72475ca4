/**
 * Shifted evaluation by shift name, over the paper's grid (forward 50 ...
 * uniform ... backward 50), and on sets given by index (a shift file).
 *
 * @module
 */

import { parseShift, SHIFT_GRID, shiftIndices, type ShiftSet, shotGroups } from "../data/mod.ts";
import { predictionExperts } from "../losses/methods.ts";
import type { AggregationOptions } from "./aggregation.ts";
import {
  type EmCalibrationMode,
  evaluateSelection,
  fitSourceCalibration,
  type Predictions,
  type PriorMode,
  type ShiftEvaluation,
  type SourceCalibration,
  type SourceData,
} from "./shifted.ts";

/** Options of the shifted evaluation. */
export interface ShiftOptions {
  prior?: PriorMode;
  source?: SourceData;
  /** EM's calibration on `source` (default bcts; "none" for plain EM). */
  emCalibration?: EmCalibrationMode;
  /** A calibration already fitted on `source` (see `fitSourceCalibration`). */
  sourceCalibration?: SourceCalibration;
  /** A multi-expert model's test-time aggregation (default: SADE's settings). */
  aggregation?: AggregationOptions;
  /** Also the uniform rule of LADE-like models (see `SelectionOptions.uniformRule`). */
  uniformRule?: boolean;
  /** The shifted set whose variants also get their confusion matrices (the report's). */
  confusionOf?: string;
}

/** The shift names `shift` stands for: the grid for `all`, else the one (validated) name. */
export function shiftNames(shift: string): string[] {
  if (shift.trim().toLowerCase() === "all") return [...SHIFT_GRID];
  return [parseShift(shift).name];
}

/** Evaluates the model on the shifted test set `shift` (e.g. forward10). */
export function evaluateShift(
  preds: Predictions,
  shift: string,
  options: ShiftOptions = {},
): ShiftEvaluation {
  const name = parseShift(shift).name;
  const indices = shiftIndices(preds.labels, preds.trainCounts, name);
  return evaluateSelection(preds, indices, name, {
    prior: options.prior,
    source: options.source,
    emCalibration: options.emCalibration,
    sourceCalibration: options.sourceCalibration,
    groups: shotGroups(preds.trainCounts),
    aggregation: options.aggregation,
    uniformRule: options.uniformRule,
    confusion: options.confusionOf === name,
  });
}

/** Evaluates every shift of `names` (default: the paper's grid). */
export function evaluateGrid(
  preds: Predictions,
  options: ShiftOptions = {},
  names: readonly string[] = SHIFT_GRID,
): ShiftEvaluation[] {
  const shared = withSharedCalibration(preds, options);
  return names.map((s) => evaluateShift(preds, s, shared));
}

/** A turn of the event loop: timers and signal listeners run between long synchronous steps. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * {@link evaluateGrid}, one shift at a time with a turn of the event loop
 * between shifts, so that a signal is answered within one shift's
 * evaluation rather than the whole grid's.
 */
export async function evaluateGridAsync(
  preds: Predictions,
  options: ShiftOptions = {},
  names: readonly string[] = SHIFT_GRID,
): Promise<ShiftEvaluation[]> {
  await nextTurn();
  const shared = withSharedCalibration(preds, options);
  const out: ShiftEvaluation[] = [];
  for (const name of names) {
    await nextTurn();
    out.push(evaluateShift(preds, name, shared));
  }
  return out;
}

/** {@link evaluateSets}, one set at a time with a turn of the event loop between sets. */
export async function evaluateSetsAsync(
  preds: Predictions,
  sets: readonly ShiftSet[],
  options: ShiftOptions = {},
): Promise<ShiftEvaluation[]> {
  await nextTurn();
  const shared = { ...withSharedCalibration(preds, options) };
  const out: ShiftEvaluation[] = [];
  for (const set of sets) {
    await nextTurn();
    out.push(...evaluateSets(preds, [set], shared));
  }
  return out;
}

/** The options with EM's source calibration fitted once, for every set rather than per set. */
function withSharedCalibration(preds: Predictions, options: ShiftOptions): ShiftOptions {
  // Multi-expert (SADE) models use no prior estimate.
  const wantEm = (options.prior === "em" || options.prior === "all") &&
    predictionExperts(preds.method) === 1;
  const kind = options.emCalibration ?? "bcts";
  return wantEm && kind !== "none" && options.source && !options.sourceCalibration
    ? { ...options, sourceCalibration: fitSourceCalibration(preds, options.source, kind) }
    : options;
}

/**
 * Evaluates the model on shifted sets given by their test-sample indices
 * (`readShiftFile`'s sets): exactly the samples another code base used.
 */
export function evaluateSets(
  preds: Predictions,
  sets: readonly ShiftSet[],
  options: ShiftOptions = {},
): ShiftEvaluation[] {
  const shared = withSharedCalibration(preds, options);
  const groups = shotGroups(preds.trainCounts);
  return sets.map((s) =>
    evaluateSelection(preds, s.indices, s.name, {
      prior: shared.prior,
      source: shared.source,
      emCalibration: shared.emCalibration,
      sourceCalibration: shared.sourceCalibration,
      groups,
      aggregation: shared.aggregation,
      uniformRule: shared.uniformRule,
      confusion: shared.confusionOf === s.name,
    })
  );
}
