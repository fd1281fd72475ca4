/**
 * Evaluation of one shifted test set: every prediction-rule variant of a
 * model, with the known target prior and, on request, with priors estimated
 * from the unlabelled shifted predictions (`+em`, `+bbse`). With labelled
 * source data, EM runs on posteriors recalibrated on that data (BCTS by
 * default; Alexandari et al. 2020), since raw network posteriors are too
 * miscalibrated for EM's re-weighting. A multi-expert (SADE) model has its
 * own variants, which need no target prior (lib/eval/experts.ts); a product
 * of experts (BalPoE) is evaluated as one network on its experts' mean, its
 * variants named by their prior use (lib/eval/product.ts).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { labelTensor } from "../data/labels.ts";
import type { ShotGroups } from "../data/shots.ts";
import { countsToPrior } from "../priors/source_prior.ts";
import { bbsePrior } from "../priors/bbse.ts";
import { klDivergence, l1Distance } from "../priors/distance.ts";
import {
  applyCalibration,
  type Calibration,
  CALIBRATION_KINDS,
  type CalibrationKind,
  fitCalibration,
  labelFrequencies,
} from "../priors/calibration.ts";
import { emPrior } from "../priors/em.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import { predictionExperts } from "../losses/methods.ts";
import type { AggregationOptions } from "./aggregation.ts";
import { evaluateExperts } from "./experts.ts";
import { computeMetrics, type Metrics } from "./metrics.ts";
import { isProductMethod, variantName } from "./product.ts";
import type { Predictions, PriorEstimate, ShiftEvaluation, SourceData } from "./evaluation.ts";

export type { Predictions, PriorEstimate, ShiftEvaluation, SourceData } from "./evaluation.ts";
import {
  adjustLogits,
  modelLogitPrior,
  rulesForMethod,
  sourcePosteriorLogits,
  usesTargetPrior,
} from "./rules.ts";

/** Which target priors to evaluate with: the known one always, plus estimates. */
export type PriorMode = "known" | "em" | "bbse" | "all";

/** The modes accepted on the command line. */
export const PRIOR_MODES: readonly PriorMode[] = ["known", "em", "bbse", "all"];

/** How EM calibrates on source data first: a calibration kind, or "none" for plain EM. */
export type EmCalibrationMode = CalibrationKind | "none";

/** The EM calibration modes accepted on the command line. */
export const EM_CALIBRATION_MODES: readonly EmCalibrationMode[] = ["none", ...CALIBRATION_KINDS];

/** Parses an EM calibration option (default bcts). */
export function parseEmCalibration(text: string | undefined): EmCalibrationMode {
  const mode = (text ?? "bcts") as EmCalibrationMode;
  if (!EM_CALIBRATION_MODES.includes(mode)) {
    throw new InputError(
      "calibration",
      `unknown calibration '${text}' (expected one of: ${EM_CALIBRATION_MODES.join(", ")})`,
    );
  }
  return mode;
}

/** A calibration fitted on a model's source data, ready for EM on any shifted set. */
export interface SourceCalibration {
  calibration: Calibration;
  /** What the calibrated posteriors are calibrated to: the source labels' class frequencies. */
  referencePrior: number[];
}

/**
 * Fits `kind` (default BCTS) on the source data's source-posterior logits
 * (f + log p_s for LADE-like models, see rules.ts), once per model: the
 * shifted sets of a grid all reuse it.
 */
export function fitSourceCalibration(
  preds: Pick<Predictions, "method" | "trainCounts" | "logitPrior">,
  source: SourceData,
  kind: CalibrationKind = "bcts",
): SourceCalibration {
  const classes = preds.trainCounts.length;
  const ps = countsToPrior(preds.trainCounts);
  const pi = modelLogitPrior(preds);
  const calibration = scope(() =>
    fitCalibration(sourcePosteriorLogits(source.logits, pi, ps), source.labels, { kind })
  );
  return { calibration, referencePrior: labelFrequencies(source.labels, classes) };
}

/** Options of `evaluateSelection`. */
export interface SelectionOptions {
  prior?: PriorMode;
  /** Needed for bbse; for em, the data it calibrates on (plain EM without it). */
  source?: SourceData;
  /** EM's calibration on `source` (default bcts; "none": plain EM even with source data). */
  emCalibration?: EmCalibrationMode;
  /** A calibration already fitted by `fitSourceCalibration` (saves refitting per shift). */
  sourceCalibration?: SourceCalibration;
  /** The shot groups of the classes. */
  groups: ShotGroups;
  /** A multi-expert model's test-time aggregation (default: SADE's settings). */
  aggregation?: AggregationOptions;
  /**
   * Also report {@link UNIFORM_RULE_VARIANT} for a model whose logits model
   * the uniform-prior posterior (LADE, prior CE): argmax f, the LADE rule with
   * a uniform target prior whatever the shift, which uses no target prior.
   * Off by default (not one of the variants of evaluate's JSON contract);
   * `compare` turns it on to set such models beside prior-free methods.
   */
  uniformRule?: boolean;
  /** Also each variant's confusion matrix (`Metrics.confusion`; the report's set). */
  confusion?: boolean;
}

/** The variant name of `SelectionOptions.uniformRule`. */
export const UNIFORM_RULE_VARIANT = "lade_uniform";

/**
 * Evaluates the test samples `indices` (the shifted set called `shift`) with
 * every variant of the model's prediction rules.
 */
export function evaluateSelection(
  preds: Predictions,
  indices: Int32Array,
  shift: string,
  options: SelectionOptions,
): ShiftEvaluation {
  const mode = options.prior ?? "known";
  const classes = preds.trainCounts.length;
  const experts = predictionExperts(preds.method);
  if (preds.logits.ndim !== 2 || preds.logits.shape[1] !== experts * classes) {
    throw new InputError(
      `logits have shape [${preds.logits.shape}] but the training counts list ${classes} classes` +
        (experts > 1 ? ` (of ${experts} experts: ${experts * classes} columns)` : ""),
    );
  }
  if (preds.logits.shape[0] !== preds.labels.length) {
    throw new InputError(
      `${preds.logits.shape[0]} rows of logits but ${preds.labels.length} labels`,
    );
  }
  if (experts > 1) {
    // SADE: each expert, their average and the test-time aggregation; no target prior.
    return evaluateExperts(
      { ...preds, classes, experts },
      indices,
      shift,
      { groups: options.groups, aggregation: options.aggregation, confusion: options.confusion },
    );
  }
  const wantEm = mode === "em" || mode === "all";
  const wantBbse = mode === "bbse" || mode === "all";
  if (wantBbse && !options.source) {
    throw new InputError("source", "bbse needs labelled source predictions");
  }
  const labels = indices.map((i) => preds.labels[i]);
  const counts = new Array<number>(classes).fill(0);
  for (const y of labels) counts[y]++;
  const targetPrior = countsToPrior(counts);
  const ps = countsToPrior(preds.trainCounts);
  // What the classifier was effectively trained under (uniform for cRT, LWS
  // and tau-norm): every rule compensates this, not the training counts.
  const pi = modelLogitPrior(preds);
  const rules = rulesForMethod(preds.method);

  return scope(() => {
    const logits = preds.logits.indexSelect(0, tensor(indices, [indices.length], "int64"));
    const priors: Record<string, number[]> = { "": targetPrior };
    const estimates: Record<string, PriorEstimate> = {};
    const record = (name: string, prior: number[], extra: Partial<PriorEstimate> = {}) => {
      priors[`+${name}`] = prior;
      estimates[name] = {
        prior,
        l1: l1Distance(prior, targetPrior),
        kl: klDivergence(targetPrior, prior),
        ...extra,
      };
    };
    if (wantEm) {
      const kind = options.emCalibration ?? "bcts";
      const cal = kind === "none" ? undefined : options.sourceCalibration ??
        (options.source ? fitSourceCalibration(preds, options.source, kind) : undefined);
      if (cal === undefined) {
        record("em", emPrior(logits.softmax(1), pi).prior);
      } else {
        const z = sourcePosteriorLogits(logits, pi, ps).to("float64");
        const probs = applyCalibration(z, cal.calibration).softmax(1);
        const c = cal.calibration;
        record("em", emPrior(probs, cal.referencePrior).prior, {
          calibration: { kind: c.kind, temperature: c.temperature, bias: c.bias },
        });
      }
    }
    if (wantBbse) {
      record("bbse", bbsePrior(logits, options.source!.logits, options.source!.labels).prior);
    }
    const results: Record<string, Metrics> = {};
    // A product of experts (BalPoE) names its variants by their prior use.
    const product = isProductMethod(preds.method);
    const name = (variant: string) => variantName(preds.method, variant);
    if (product) {
      // Its own prediction, without a prior: argmax f (the balanced product).
      results[name("uniform")] = scope(() =>
        computeMetrics(
          adjustLogits(logits, "lade", pi, pi),
          labels,
          options.groups,
        )
      );
    }
    for (const [suffix, prior] of Object.entries(priors)) {
      for (const rule of rules) {
        if (suffix !== "" && !usesTargetPrior(rule)) continue;
        results[name(rule + suffix)] = scope(() =>
          computeMetrics(adjustLogits(logits, rule, pi, prior), labels, options.groups, {
            confusion: options.confusion,
          })
        );
      }
    }
    if (options.uniformRule && rules.includes("lade") && !product) {
      results[UNIFORM_RULE_VARIANT] = scope(() =>
        computeMetrics(
          adjustLogits(logits, "lade", pi, ps.map(() => 1 / classes)),
          labels,
          options.groups,
        )
      );
    }
    const y = labelTensor(labels);
    const rawTop1 = logits.argmax(1).eq(y).to("float64").mean().item() * 100;
    return { shift, counts, targetPrior, results, estimates, rawTop1 };
  });
}

/** The contract's JSON of an evaluation: shift, counts and the summary metrics per variant. */
export function evaluationJson(e: ShiftEvaluation): Record<string, unknown> {
  const results: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(e.results)) {
    results[name] = {
      top1: m.top1,
      top5: m.top5,
      many: m.many,
      medium: m.medium,
      few: m.few,
      ece: m.ece,
      nll: m.nll,
      brier: m.brier,
    };
  }
  const out: Record<string, unknown> = { shift: e.shift, counts: e.counts, results };
  if (Object.keys(e.estimates).length > 0) out.estimates = e.estimates;
  if (e.aggregation !== undefined) out.aggregation = e.aggregation;
  return out;
}
