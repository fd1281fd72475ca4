/**
 * `lade estimate-prior`: estimates the target prior of a shifted test set from
 * the model's unlabelled predictions (EM or BBSE), and reports the estimate,
 * the true prior, the L1 and KL errors and the accuracy when predicting with it.
 * EM calibrates on labelled source data first (BCTS) whenever there is some:
 * a run's training split, or --source-logits/--source-labels.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { evaluateShift } from "../eval/grid.ts";
import {
  hasSourceData,
  type InputOptions,
  type LoadedSource,
  loadPredictions,
  loadSourceData,
  sourceJson,
} from "./inputs.ts";
import { parseEmCalibration, type PriorEstimate } from "../eval/shifted.ts";
import { rulesForMethod, usesTargetPrior } from "../eval/rules.ts";
import { predictionExperts } from "../losses/methods.ts";
import { variantName } from "../eval/product.ts";

/** The flags of `estimate-prior`. */
export interface EstimatePriorOptions extends InputOptions {
  shift: string;
  method?: string;
  /** EM's calibration on source data: bcts (default), ts or none. */
  calibration?: string;
  json?: boolean;
}

/** What `estimate-prior --json` prints. */
export interface PriorReport {
  shift: string;
  method: "em" | "bbse";
  estimate: number[];
  truth: number[];
  l1: number;
  kl: number;
  /** For EM on calibrated posteriors: the calibration fitted on the source data. */
  calibration?: PriorEstimate["calibration"];
  /** The labelled source data BBSE or EM's calibration used: its split (val, train, files) and size. */
  source?: { split: string; samples: number };
  /** Top-1 (%) of the prior-using rule with the estimate, with the true prior, and without adjustment. */
  accuracy: { rule: string; estimated: number; known: number; unadjusted: number };
}

/** Runs `estimate-prior`. */
export async function estimatePriorCommand(options: EstimatePriorOptions): Promise<PriorReport> {
  const method = options.method ?? "em";
  if (method !== "em" && method !== "bbse") {
    throw new UsageError(`unknown --method '${method}' (expected em or bbse)`);
  }
  const emCalibration = parseEmCalibration(options.calibration);
  const preds = await loadPredictions(options);
  let source: LoadedSource | undefined;
  try {
    if (predictionExperts(preds.method) > 1) {
      throw new UsageError(
        `a ${preds.method} model's predictions use no target prior; estimate-prior needs a ` +
          `single-expert model (evaluate reports ${preds.method}'s test-time aggregation)`,
      );
    }
    const calibrate = method === "em" && emCalibration !== "none" && hasSourceData(options);
    if (method === "bbse" || calibrate) {
      source = await loadSourceData(options, preds.trainCounts.length);
    }
    const e = evaluateShift(preds, options.shift, { prior: method, source, emCalibration });
    const rule = rulesForMethod(preds.method).find(usesTargetPrior)!;
    const est = e.estimates[method];
    const report: PriorReport = {
      shift: e.shift,
      method,
      estimate: est.prior,
      truth: e.targetPrior,
      l1: est.l1,
      kl: est.kl,
      ...(est.calibration ? { calibration: est.calibration } : {}),
      ...(source ? { source: sourceJson(source) } : {}),
      accuracy: {
        rule,
        estimated: e.results[variantName(preds.method, `${rule}+${method}`)].top1,
        known: e.results[variantName(preds.method, rule)].top1,
        unadjusted: e.rawTop1,
      },
    };
    if (options.json) {
      console.log(JSON.stringify(report));
    } else {
      const p = (xs: number[]) => xs.map((x) => x.toFixed(4)).join(" ");
      const cal = report.calibration;
      const how = cal
        ? `, after ${cal.kind.toUpperCase()} on source data (T ${cal.temperature.toFixed(3)})`
        : method === "em"
        ? ", uncalibrated"
        : "";
      console.log(`shift ${report.shift}, ${method} estimate (${preds.method} model${how})`);
      if (source) console.log(`labelled source data: ${source.description}`);
      console.log(`estimate  ${p(report.estimate)}`);
      console.log(`true      ${p(report.truth)}`);
      console.log(`L1 ${report.l1.toFixed(4)}  KL ${report.kl.toFixed(4)}`);
      console.log(
        `top-1 with ${rule}: estimated prior ${report.accuracy.estimated.toFixed(2)}%, ` +
          `true prior ${report.accuracy.known.toFixed(2)}%, unadjusted ${
            report.accuracy.unadjusted.toFixed(2)
          }%`,
      );
    }
    return report;
  } finally {
    preds.logits.dispose();
    source?.logits.dispose();
  }
}
