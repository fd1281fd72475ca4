/**
 * `lade evaluate`: accuracy and calibration of a trained run (or of logits
 * made elsewhere) on shifted test sets, for every prediction rule of the
 * model, with the known target prior or an estimated one; writes the run's
 * report (runDir/report/) and can export the logits as .npy.
 *
 * @module
 */

import { join } from "node:path";
import { UsageError } from "./errors.ts";
import { evaluateGrid, shiftNames } from "../eval/grid.ts";
import {
  hasSourceData,
  type InputOptions,
  type LoadedPredictions,
  loadPredictions,
  loadSourceData,
} from "./inputs.ts";
import { writeNpy } from "../eval/npy.ts";
import { formatGrid } from "../eval/grid_table.ts";
import { writeReport } from "../eval/report.ts";
import {
  evaluationJson,
  parseEmCalibration,
  PRIOR_MODES,
  type PriorMode,
  type ShiftEvaluation,
  type SourceData,
} from "../eval/shifted.ts";
import type { Tensor } from "../torch/tensor.ts";

/** The flags of `evaluate`. */
export interface EvaluateOptions extends InputOptions {
  shift?: string;
  prior?: string;
  /** EM's calibration on source data: bcts (default), ts or none. */
  calibration?: string;
  json?: boolean;
  /** false: do not write the run's report. */
  report?: boolean | string;
  exportNpy?: string;
}

/** A folder to write into: absent (it is made) or a folder; a UsageError naming `flag` otherwise. */
async function checkOutputDir(path: string, flag: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new UsageError(`${flag} ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!info.isDirectory) throw new UsageError(`${flag} ${path}: exists and is not a folder`);
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
  const names = shiftNames(options.shift ?? "uniform");
  const preds = predictions ?? await loadPredictions(options);
  let source: SourceData | undefined;
  try {
    const wantEm = mode === "em" || mode === "all";
    const calibrate = wantEm && emCalibration !== "none" && hasSourceData(options);
    if (mode === "bbse" || mode === "all" || calibrate) {
      source = await loadSourceData(options, preds.trainCounts.length);
    }
    // EM calibrates on the source data once for the whole grid.
    const evals = evaluateGrid(preds, { prior: mode, source, emCalibration }, names);
    if (options.json) {
      const json = evals.map(evaluationJson);
      const all = (options.shift ?? "").trim().toLowerCase() === "all";
      console.log(JSON.stringify(all ? json : json[0]));
    } else {
      console.log(`${preds.dataset}, method ${preds.method}, ${preds.labels.length} test samples`);
      // One table per shift for a single shift; the compact grid for several.
      if (evals.length === 1) console.log("\n" + formatEvaluation(evals[0]));
      else console.log("\n" + formatGrid(evals));
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
    source?.logits.dispose();
  }
}
