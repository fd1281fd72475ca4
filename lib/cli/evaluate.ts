/**
 * `lade evaluate`: accuracy and calibration of a trained run (or of logits
 * made elsewhere) on shifted test sets, for every prediction rule of the
 * model, with the known target prior or an estimated one (a SADE run: each
 * expert, their average and the test-time aggregation); writes the run's
 * report (runDir/report/) and can export the logits as .npy.
 *
 * @module
 */

import { join } from "node:path";
import { readManifest } from "../run/checkpoint.ts";
import { UsageError } from "./errors.ts";
import { evaluateGrid, evaluateSets, shiftNames } from "../eval/grid.ts";
import { readShiftFile } from "../data/mod.ts";
import {
  checkOutputDir,
  hasSourceData,
  type InputOptions,
  type LoadedPredictions,
  type LoadedSource,
  loadPredictions,
  loadSourceData,
  sourceJson,
} from "./inputs.ts";
import { writeNpy } from "../eval/npy.ts";
import { formatAggregation, formatGrid } from "../eval/grid_table.ts";
import { predictionExperts } from "../losses/methods.ts";
import { writeReport } from "../eval/report.ts";
import {
  evaluationJson,
  parseEmCalibration,
  PRIOR_MODES,
  type PriorMode,
  type ShiftEvaluation,
} from "../eval/shifted.ts";
import type { Tensor } from "../torch/tensor.ts";

/** The flags of `evaluate`. */
export interface EvaluateOptions extends InputOptions {
  shift?: string;
  /** A JSON file of shifted sets (per-class counts or sample indices) instead of --shift. */
  shiftFile?: string;
  prior?: string;
  /** EM's calibration on source data: bcts (default), ts or none. */
  calibration?: string;
  json?: boolean;
  /** false: do not write the run's report. */
  report?: boolean | string;
  exportNpy?: string;
  /** SADE runs: epochs of the test-time aggregation (default: the recipe's, else 5; 0 leaves it out). */
  ttaEpochs?: string;
  /** SADE runs: the test-time aggregation's learning rate (default: the recipe's, else 0.1). */
  ttaLr?: string;
}

/** A non-negative numeric flag (an integer when `integer`); undefined when not given. */
function numberFlag(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `invalid ${flag} '${value}': expected a non-negative ${integer ? "integer" : "number"}`,
    );
  }
  return n;
}

/** Parses `--prior`. */
export function parsePriorMode(text: string | undefined): PriorMode {
  const mode = (text ?? "known") as PriorMode;
  if (!PRIOR_MODES.includes(mode)) {
    throw new UsageError(`unknown --prior '${text}' (expected one of: ${PRIOR_MODES.join(", ")})`);
  }
  return mode;
}

function cell(v: number | null, digits = 2): string {
  return v === null ? "-" : v.toFixed(digits);
}

/** A plain-text table of one evaluation. */
export function formatEvaluation(e: ShiftEvaluation): string {
  const header = ["variant", "top1", "top5", "many", "medium", "few", "ECE", "NLL", "Brier"];
  const rows = Object.entries(e.results).map(([name, m]) => [
    name,
    cell(m.top1),
    cell(m.top5),
    cell(m.many),
    cell(m.medium),
    cell(m.few),
    cell(m.ece),
    cell(m.nll, 4),
    cell(m.brier, 4),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  const total = e.counts.reduce((a, b) => a + b, 0);
  const out = [`shift ${e.shift}: ${total} test samples`, line(header), ...rows.map(line)];
  if (e.aggregation !== undefined) {
    const a = e.aggregation;
    out.push(
      `  test-time aggregation weights (experts 1-${a.weights.length}): ` +
        `${a.weights.map((w) => w.toFixed(3)).join(" ")} after ${a.epochs} epochs ` +
        `(fitted on this set's unlabelled images)`,
    );
  }
  for (const [name, est] of Object.entries(e.estimates)) {
    const cal = est.calibration
      ? ` (after ${est.calibration.kind.toUpperCase()}, T ${
        est.calibration.temperature.toFixed(3)
      })`
      : "";
    out.push(`  ${name} prior estimate: L1 ${est.l1.toFixed(4)}, KL ${est.kl.toFixed(4)}${cal}`);
  }
  return out.join("\n");
}

/** "second stage: ..." for a run `lade stage2` made (see lib/train/stage2.ts), else undefined. */
async function stage2Line(runDir: string): Promise<string | undefined> {
  const s = (await readManifest(runDir).catch(() => null))?.config.stage2;
  if (s === undefined) return undefined;
  const how = s.method === "tau-norm"
    ? `tau ${s.tau}${s.selection ? ", chosen on the validation split" : ""}`
    : `per-class scales learned over ${s.epochs} epochs`;
  return `second stage: ${s.method} (${how}) of ${s.from}`;
}

/** Writes the predictions as logits.npy, labels.npy (int64) and train_counts.npy (int64). */
export async function exportNpy(
  dir: string,
  logits: Tensor,
  labels: Int32Array,
  trainCounts: number[],
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const f = logits.to("float32");
  try {
    await writeNpy(join(dir, "logits.npy"), {
      dtype: "float32",
      shape: [...f.shape],
      data: f.toArray(),
    });
  } finally {
    f.dispose();
  }
  await writeNpy(join(dir, "labels.npy"), {
    dtype: "int64",
    shape: [labels.length],
    data: BigInt64Array.from(labels, (y) => BigInt(y)),
  });
  await writeNpy(join(dir, "train_counts.npy"), {
    dtype: "int64",
    shape: [trainCounts.length],
    data: BigInt64Array.from(trainCounts, (n) => BigInt(n)),
  });
}

/**
 * Runs `evaluate`. `predictions`: the test predictions when the caller has
 * them already (a distributed training run gathers them from its ranks);
 * otherwise they are made as the options say. Either way they are disposed.
 */
export async function evaluateCommand(
  options: EvaluateOptions,
  predictions?: LoadedPredictions,
): Promise<void> {
  const mode = parsePriorMode(options.prior);
  const emCalibration = parseEmCalibration(options.calibration);
  // Output folders are checked before the (slow) predictions.
  if (typeof options.report === "string") await checkOutputDir(options.report, "--report");
  if (options.exportNpy !== undefined) await checkOutputDir(options.exportNpy, "--export-npy");
  if (options.shiftFile !== undefined && options.shift !== undefined) {
    throw new UsageError("give either --shift or --shift-file, not both");
  }
  const names = options.shiftFile === undefined ? shiftNames(options.shift ?? "uniform") : [];
  // Without --tta-epochs, the recipe's (method.test_time.epochs), else 5.
  const ttaEpochs = numberFlag("--tta-epochs", options.ttaEpochs, true);
  const ttaLr = numberFlag("--tta-lr", options.ttaLr, false);
  // A caller's predictions (the grid a distributed train prints) carry no
  // augmented views: a SADE run's aggregation is then left out.
  const preds = predictions ?? await loadPredictions({
    ...options,
    views: ttaEpochs === 0 ? undefined : { epochs: ttaEpochs },
  });
  const experts = predictionExperts(preds.method);
  let source: LoadedSource | undefined;
  try {
    const sets = options.shiftFile === undefined
      ? undefined
      : await readShiftFile(options.shiftFile, preds.labels, preds.trainCounts.length);
    const wantEm = mode === "em" || mode === "all";
    const calibrate = wantEm && emCalibration !== "none" && hasSourceData(options);
    // A multi-expert (SADE) model's variants use no target prior: nothing to estimate.
    if (experts === 1 && (mode === "bbse" || mode === "all" || calibrate)) {
      source = await loadSourceData(options, preds.trainCounts.length);
    }
    // EM calibrates on the source data once for the whole grid.
    // The recipe's test-time settings; --tta-lr beats its rate.
    const aggregation = { ...preds.testTime, ...(ttaLr !== undefined ? { lr: ttaLr } : {}) };
    const shiftOptions = { prior: mode, source, emCalibration, aggregation };
    const evals = sets === undefined
      ? evaluateGrid(preds, shiftOptions, names)
      : evaluateSets(preds, sets, shiftOptions);
    if (options.json) {
      // Which labelled data calibration and BBSE used, when they used any.
      const extra = source ? { source: sourceJson(source) } : {};
      const json = evals.map((e) => ({ ...evaluationJson(e), ...extra }));
      const all = (options.shift ?? "").trim().toLowerCase() === "all" ||
        (sets !== undefined && sets.length > 1);
      console.log(JSON.stringify(all ? json : json[0]));
    } else {
      console.log(`${preds.dataset}, method ${preds.method}, ${preds.labels.length} test samples`);
      const stage2 = options.run === undefined ? undefined : await stage2Line(options.run);
      if (stage2 !== undefined) console.log(stage2);
      if (sets !== undefined) {
        console.log(
          `shifted sets from ${options.shiftFile}: ${sets.map((s) => s.name).join(", ")}`,
        );
      }
      if (source) {
        console.log(`labelled source data (EM's calibration, BBSE): ${source.description}`);
      }
      // One table per shift for a single shift; the compact grid for several.
      if (evals.length === 1) console.log("\n" + formatEvaluation(evals[0]));
      else console.log("\n" + formatGrid(evals));
      if (experts > 1) {
        if (evals.length > 1 && evals.some((e) => e.aggregation)) {
          console.log("\n" + formatAggregation(evals));
        }
        if (mode !== "known") {
          console.log(`\n(--prior ${mode}: ${preds.method}'s variants use no target prior)`);
        }
      }
    }
    const reportDir = typeof options.report === "string"
      ? options.report
      : options.report !== false && options.run !== undefined
      ? join(options.run, "report")
      : undefined;
    if (reportDir !== undefined) {
      const files = await writeReport(reportDir, evals, {
        method: preds.method,
        dataset: preds.dataset,
        trainCounts: preds.trainCounts,
        classNames: preds.classNames,
      });
      if (!options.json) console.log(`\nreport: ${files.length} files in ${reportDir}`);
    }
    if (options.exportNpy !== undefined) {
      await exportNpy(options.exportNpy, preds.logits, preds.labels, preds.trainCounts);
      if (!options.json) {
        console.log(`exported logits.npy, labels.npy, train_counts.npy to ${options.exportNpy}`);
      }
    }
  } finally {
    preds.logits.dispose();
    preds.views?.dispose();
    source?.logits.dispose();
  }
}
