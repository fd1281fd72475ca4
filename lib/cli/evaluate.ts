/**
 * `lade evaluate`: accuracy and calibration of a trained run (or of logits
 * made elsewhere) on shifted test sets, for every prediction rule of the
 * model, with the known target prior or an estimated one (a SADE run: each
 * expert, their average and the test-time aggregation); writes the run's
 * report (runDir/report/) and can export the logits as .npy.
 *
 * @module
 */

import { basename, join } from "node:path";
import { readManifest } from "../run/checkpoint.ts";
import { UsageError } from "./errors.ts";
import { evaluateGridAsync, evaluateSetsAsync, shiftNames } from "../eval/grid.ts";
import { type Phase, setPhase } from "./signals.ts";
import { notApplicableLines, SHOT_NOTE } from "./shot_columns.ts";
import { timestamp } from "./timestamp.ts";
import { plural } from "../plural.ts";
import { readShiftFile } from "../data/mod.ts";
import {
  hasSourceData,
  type InputOptions,
  type LoadedPredictions,
  type LoadedSource,
  loadPredictions,
  loadSourceData,
  sourceJson,
} from "./inputs.ts";
import { encodeNpy } from "../eval/npy.ts";
import { writeFilesAtomic } from "../fs.ts";
import { checkOutputFiles } from "./outputs.ts";
import { evaluateOnlineCommand, type OnlineOptions } from "./evaluate_online.ts";
import { formatAggregation, formatGrid } from "../eval/grid_table.ts";
import { predictionExperts } from "../losses/methods.ts";
import { checkReplaceable, REPORT_FILES, reportFocus, writeReport } from "../eval/report.ts";
import { logitPriorName } from "../eval/logit_prior.ts";
import { logitPriorOf } from "../eval/rules.ts";
import {
  evaluationJson,
  parseEmCalibration,
  PRIOR_MODES,
  type PriorMode,
  type ShiftEvaluation,
} from "../eval/shifted.ts";
import type { Tensor } from "../torch/tensor.ts";

/** The flags of `evaluate`. */
export interface EvaluateOptions
  extends InputOptions, Partial<Omit<OnlineOptions, keyof InputOptions>> {
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
  /** Replace existing files of --report and --export-npy (never a run's own files). */
  force?: boolean;
  /** SADE runs: epochs of the test-time aggregation (default: the recipe's, else 5; 0 leaves it out). */
  ttaEpochs?: string;
  /** SADE runs: the test-time aggregation's learning rate (default: the recipe's, else 0.1). */
  ttaLr?: string;
  /** Online label shift: a schedule, `all`, or a marginals file (lib/cli/evaluate_online.ts). */
  online?: string;
}

/** The flags of `--online` alone. */
const ONLINE_FLAGS: readonly [keyof EvaluateOptions, string][] = [
  ["rounds", "--rounds"],
  ["perRound", "--per-round"],
  ["methods", "--methods"],
  ["seed", "--seed"],
  ["estimator", "--estimator"],
  ["onlineFrom", "--online-from"],
  ["onlineTo", "--online-to"],
  ["period", "--period"],
  ["flipProb", "--flip-prob"],
];

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
  return v === null ? "n/a" : v.toFixed(digits);
}

/**
 * A plain-text table of one evaluation. Its second header line says which
 * columns count samples and which average classes; n/a cells of the shot
 * groups are explained below it (against `trainCounts`, when given).
 */
export function formatEvaluation(e: ShiftEvaluation, trainCounts?: readonly number[]): string {
  const header = ["variant", "top1", "top5", "many", "medium", "few", "ECE", "NLL", "Brier"];
  const kinds = ["mean over", "sample", "sample", "class", "class", "class", "", "", ""];
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
  const widths = header.map((h, i) =>
    Math.max(h.length, kinds[i].length, ...rows.map((r) => r[i].length))
  );
  const line = (r: string[]) =>
    r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ")
      .trimEnd();
  const total = e.counts.reduce((a, b) => a + b, 0);
  const out = [
    `shift ${e.shift}: ${plural(total, "test sample")}`,
    line(header),
    line(kinds),
    ...rows.map(line),
  ];
  // Why a shot group has no figure (the same for every variant).
  const first = Object.values(e.results)[0];
  if (first !== undefined) out.push(...notApplicableLines(first, trainCounts));
  if (e.aggregation !== undefined) {
    const a = e.aggregation;
    out.push(
      `  test-time aggregation weights (experts 1-${a.weights.length}): ` +
        `${a.weights.map((w) => w.toFixed(3)).join(" ")} after ${plural(a.epochs, "epoch")} ` +
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
    : `per-class scales learned over ${plural(s.epochs ?? 0, "epoch")}`;
  return `second stage: ${s.method} (${how}) of ${s.from}`;
}

/**
 * A line saying which prior the rules compensate, when it is not the one the
 * method's loss gives on shuffled epochs (cRT, LWS, tau-norm, another sampler).
 */
function priorLine(preds: LoadedPredictions): string | undefined {
  if (preds.logitPrior === undefined || predictionExperts(preds.method) > 1) return undefined;
  const usual = logitPriorOf(preds.method, preds.trainCounts);
  if (usual.every((v, c) => Math.abs(v - preds.logitPrior![c]) < 1e-12)) return undefined;
  return `the classifier was trained under ${
    logitPriorName(preds.logitPrior, preds.trainCounts)
  }: the rules compensate that prior, not the training counts`;
}

/** What an evaluation's report folder is named after: the shift (or shift file) and the prior. */
function reportLabel(options: EvaluateOptions, mode: PriorMode): string {
  const sets = options.shiftFile === undefined
    ? (options.shift ?? "uniform").trim().toLowerCase().replace(/[^a-z0-9]+/g, "")
    : `file-${
      basename(options.shiftFile).replace(/\.json$/i, "").replace(/[^A-Za-z0-9_-]+/g, "_")
    }`;
  return `${sets}-${mode}`;
}

/**
 * A new folder for an evaluation's report inside the run:
 * `runDir/report-<shift>-<prior>-<time>` (`report-all-known-20250101-120000`),
 * with `-2`, `-3` ... when one of that name exists. Never the training
 * report's `report/`, and never an earlier evaluation's folder.
 */
export async function evaluationReportDir(runDir: string, label: string): Promise<string> {
  const base = join(runDir, `report-${label}-${timestamp()}`);
  for (let k = 1;; k++) {
    const dir = k === 1 ? base : `${base}-${k}`;
    try {
      await Deno.mkdir(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** The files `--export-npy` writes. */
export const EXPORT_NPY_FILES: readonly string[] = ["logits.npy", "labels.npy", "train_counts.npy"];

/**
 * Writes the predictions as logits.npy, labels.npy (int64) and
 * train_counts.npy (int64), all or nothing: on a full disk an
 * OutputWriteError names the file that failed, and none of the three changed.
 */
export async function exportNpy(
  dir: string,
  logits: Tensor,
  labels: Int32Array,
  trainCounts: number[],
): Promise<void> {
  const made = !(await Deno.stat(dir).then(() => true, () => false));
  await Deno.mkdir(dir, { recursive: true });
  try {
    await writeNpyFiles(dir, logits, labels, trainCounts);
  } catch (e) {
    // All or nothing: a folder made for the files goes with them.
    if (made) await Deno.remove(dir).catch(() => {});
    throw e;
  }
}

async function writeNpyFiles(
  dir: string,
  logits: Tensor,
  labels: Int32Array,
  trainCounts: number[],
): Promise<void> {
  let logitsBytes: Uint8Array;
  {
    using f = logits.to("float32");
    logitsBytes = encodeNpy({ dtype: "float32", shape: [...f.shape], data: f.toArray() });
  }
  await writeFilesAtomic([
    [join(dir, EXPORT_NPY_FILES[0]), logitsBytes],
    [
      join(dir, EXPORT_NPY_FILES[1]),
      encodeNpy({
        dtype: "int64",
        shape: [labels.length],
        data: BigInt64Array.from(labels, (y) => BigInt(y)),
      }),
    ],
    [
      join(dir, EXPORT_NPY_FILES[2]),
      encodeNpy({
        dtype: "int64",
        shape: [trainCounts.length],
        data: BigInt64Array.from(trainCounts, (n) => BigInt(n)),
      }),
    ],
  ]);
}

/**
 * Runs `evaluate`. `predictions`: the test predictions when the caller has
 * them already (a distributed training run gathers them from its ranks);
 * otherwise they are made as the options say. Either way they are disposed.
 */
export async function evaluateCommand(
  options: EvaluateOptions,
  predictions?: LoadedPredictions,
  context: {
    /**
     * Say what is being done when a signal comes (default true); false when
     * the caller's own phase says it better (train's final evaluation).
     */
    phases?: boolean;
  } = {},
): Promise<void> {
  if (options.online !== undefined && predictions === undefined) {
    return await evaluateOnlineCommand({ ...options, online: options.online });
  }
  for (const [key, flag] of ONLINE_FLAGS) {
    if (options[key] !== undefined) throw new UsageError(`${flag} applies to --online only`);
  }
  const phase = (p: Phase) => {
    if (context.phases !== false) setPhase(p);
  };
  const subject = options.run ?? options.logits ?? "the predictions";
  phase({ doing: `the evaluation of ${subject}`, intact: "nothing was written" });
  const mode = parsePriorMode(options.prior);
  const emCalibration = parseEmCalibration(options.calibration);
  // Output folders are checked before the (slow) predictions.
  const force = options.force;
  if (typeof options.report === "string") {
    await checkOutputFiles(options.report, REPORT_FILES, { flag: "--report", force });
    await checkReplaceable(options.report);
  }
  if (options.exportNpy !== undefined) {
    await checkOutputFiles(options.exportNpy, EXPORT_NPY_FILES, { flag: "--export-npy", force });
  }
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
    // The report's set (uniform when evaluated) also gets its confusion matrices.
    const confusionOf = reportFocus(sets === undefined ? names : sets.map((s) => s.name));
    // The recipe's test-time settings; --tta-lr beats its rate.
    const aggregation = { ...preds.testTime, ...(ttaLr !== undefined ? { lr: ttaLr } : {}) };
    const shiftOptions = { prior: mode, source, emCalibration, aggregation, confusionOf };
    const evals = sets === undefined
      ? await evaluateGridAsync(preds, shiftOptions, names)
      : await evaluateSetsAsync(preds, sets, shiftOptions);
    if (options.json) {
      // Which labelled data calibration and BBSE used, when they used any.
      const extra = source ? { source: sourceJson(source) } : {};
      const json = evals.map((e) => ({ ...evaluationJson(e), ...extra }));
      const all = (options.shift ?? "").trim().toLowerCase() === "all" ||
        (sets !== undefined && sets.length > 1);
      console.log(JSON.stringify(all ? json : json[0]));
    } else {
      console.log(
        `${preds.dataset}, method ${preds.method}, ${plural(preds.labels.length, "test sample")}`,
      );
      const ck = preds.checkpoint;
      if (ck?.which === "best") {
        console.log(
          `checkpoint: best (epoch ${ck.epoch}, validation top-1 ${ck.valTop1?.toFixed(2)}%)`,
        );
      }
      const stage2 = options.run === undefined ? undefined : await stage2Line(options.run);
      if (stage2 !== undefined) console.log(stage2);
      const trained = priorLine(preds);
      if (trained !== undefined) console.log(trained);
      if (sets !== undefined) {
        console.log(
          `shifted sets from ${options.shiftFile}: ${sets.map((s) => s.name).join(", ")}`,
        );
      }
      if (source) {
        console.log(`labelled source data (EM's calibration, BBSE): ${source.description}`);
      }
      // One table per shift for a single shift; the compact grid for several.
      if (evals.length === 1) {
        console.log("\n" + formatEvaluation(evals[0], preds.trainCounts));
        console.log(SHOT_NOTE);
      } else console.log("\n" + formatGrid(evals));
      if (experts > 1) {
        if (evals.length > 1 && evals.some((e) => e.aggregation)) {
          console.log("\n" + formatAggregation(evals));
        }
        if (mode !== "known") {
          console.log(`\n(--prior ${mode}: ${preds.method}'s variants use no target prior)`);
        }
      }
    }
    // A run's training report (runDir/report) stays as training wrote it:
    // each evaluation gets a folder of its own (the best checkpoint's says so).
    const reportDir = typeof options.report === "string"
      ? options.report
      : options.report !== false && options.run !== undefined
      ? await evaluationReportDir(
        options.run,
        reportLabel(options, mode) + (preds.checkpoint?.which === "best" ? "-best" : ""),
      )
      : undefined;
    if (reportDir !== undefined) {
      phase({
        doing: `writing the report to ${reportDir}`,
        intact: `${reportDir} is as it was (a report is written whole or not at all)`,
      });
      const files = await writeReport(reportDir, evals, {
        method: preds.method,
        dataset: preds.dataset,
        trainCounts: preds.trainCounts,
        classNames: preds.classNames,
      });
      if (!options.json) console.log(`\nreport: ${plural(files.length, "file")} in ${reportDir}`);
    }
    if (options.exportNpy !== undefined) {
      phase({
        doing: `writing logits.npy, labels.npy and train_counts.npy to ${options.exportNpy}`,
        intact: (reportDir === undefined ? "" : `the report in ${reportDir} is written; `) +
          "each .npy file is written whole or not at all",
      });
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
