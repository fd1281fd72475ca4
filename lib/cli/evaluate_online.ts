/**
 * `lade evaluate --online SCHEDULE`: the online label shift evaluation of a
 * run (or of logits made elsewhere). The test logits are computed once; each
 * schedule (`all`: the four) is a seeded stream of T rounds of n test
 * images, and every method predicts each round with what it learned from
 * the rounds before. Prints per method the mean online accuracy, the mean
 * L1 error of its prior and its regret against the oracle (or JSON), and
 * writes the plot into the run's report.
 *
 * @module
 */

import { join } from "node:path";
import { printWarning, UsageError } from "./errors.ts";
import {
  checkOutputDir,
  type InputOptions,
  type LoadedPredictions,
  type LoadedSource,
  loadPredictions,
  loadSourceData,
} from "./inputs.ts";
import type { CalibrationKind } from "../priors/calibration.ts";
import { predictionExperts } from "../losses/methods.ts";
import { parseEmCalibration } from "../eval/shifted.ts";
import {
  endpointPrior,
  ONLINE_METHODS,
  OnlineEvaluator,
  type OnlineResult,
  readMarginalsFile,
  ROUND_ESTIMATE_METHODS,
  type RoundEstimatorKind,
  sampleStream,
  type ScheduleKind,
  scheduleMarginals,
  SCHEDULES,
  writeOnlineReport,
} from "../online/mod.ts";
import { ONLINE_FOLDER } from "../online/report.ts";
import { setPhase } from "./signals.ts";

/** The flags of `evaluate --online`. */
export interface OnlineOptions extends InputOptions {
  online: string;
  rounds?: string;
  perRound?: string;
  methods?: string;
  seed?: string;
  estimator?: string;
  onlineFrom?: string;
  onlineTo?: string;
  period?: string;
  flipProb?: string;
  calibration?: string;
  json?: boolean;
  report?: boolean | string;
}

/** The default rounds and samples per round (Baby et al.'s and Bai et al.'s protocol). */
export const DEFAULT_ROUNDS = 500;
/** Samples per round by default. */
export const DEFAULT_PER_ROUND = 10;

/** A positive (or, with `zero`, non-negative) integer flag; undefined when not given. */
function integerFlag(flag: string, value: string | undefined, zero = false): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || (!zero && n < 1)) {
    throw new UsageError(
      `invalid ${flag} '${value}': expected a ${zero ? "non-negative" : "positive"} integer`,
    );
  }
  return n;
}

/** A probability flag in [0, 1]. */
function probabilityFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === "" ? NaN : Number(value);
  if (!(n >= 0 && n <= 1)) {
    throw new UsageError(`invalid ${flag} '${value}': expected a probability in [0, 1]`);
  }
  return n;
}

/** The schedules' numeric flags, checked. */
function scheduleFlags(options: OnlineOptions) {
  return {
    period: integerFlag("--period", options.period),
    flipProbability: probabilityFlag("--flip-prob", options.flipProb),
    seed: integerFlag("--seed", options.seed, true) ?? 0,
  };
}

/** One schedule to run: a named schedule or a file of marginals. */
interface Plan {
  name: string;
  marginals: number[][];
  description: string;
}

/** The schedules `--online` names, with their marginals. */
async function plans(
  options: OnlineOptions,
  trainCounts: number[],
  rounds: number | undefined,
): Promise<Plan[]> {
  const text = options.online.trim();
  const lower = text.toLowerCase();
  const named = lower === "all"
    ? [...SCHEDULES]
    : (SCHEDULES as readonly string[]).includes(lower)
    ? [lower as ScheduleKind]
    : undefined;
  if (named === undefined) {
    if (!/\.(csv|json)$/i.test(text)) {
      throw new UsageError(
        `unknown --online '${options.online}' (use ${SCHEDULES.join(", ")}, all, ` +
          "or a .csv or .json file of marginals, one row per round)",
      );
    }
    for (
      const [flag, v] of [
        ["--online-from", options.onlineFrom],
        ["--online-to", options.onlineTo],
        ["--period", options.period],
        ["--flip-prob", options.flipProb],
      ] as const
    ) {
      if (v !== undefined) throw new UsageError(`${flag} does not apply to a file of marginals`);
    }
    const marginals = await readMarginalsFile(text, trainCounts.length);
    if (rounds !== undefined && rounds !== marginals.length) {
      throw new UsageError(
        `--rounds ${rounds} but ${text} gives ${marginals.length} rounds (leave --rounds out)`,
      );
    }
    return [{ name: text, marginals, description: `the marginals of ${text}` }];
  }
  const from = endpointPrior(options.onlineFrom ?? "uniform", trainCounts, "from");
  const to = endpointPrior(options.onlineTo ?? "reversed", trainCounts, "to");
  const T = rounds ?? DEFAULT_ROUNDS;
  const { period, flipProbability, seed } = scheduleFlags(options);
  const ends = `between ${options.onlineFrom ?? "uniform"} and ${options.onlineTo ?? "reversed"}`;
  return named.map((kind) => ({
    name: kind,
    marginals: scheduleMarginals(kind, from, to, { rounds: T, period, flipProbability, seed }),
    description: `q_t ${ends}, ${kind}` +
      (kind === "square" || kind === "sinusoidal"
        ? ` (period ${period ?? Math.max(1, Math.floor(Math.sqrt(T)))})`
        : kind === "bernoulli"
        ? ` (flip probability ${Number((flipProbability ?? 1 / Math.sqrt(T)).toPrecision(3))})`
        : ""),
  }));
}

/** The methods `--methods` asks for (default: all that the available data allow). */
function chooseMethods(
  text: string | undefined,
  hasSource: boolean,
): { methods: string[]; skipped: string[] } {
  if (text === undefined) {
    const skipped = hasSource ? [] : ["uogd", "atlas"];
    return { methods: ONLINE_METHODS.filter((m) => !skipped.includes(m)), skipped };
  }
  const methods = text.split(",").map((m) => m.trim().toLowerCase()).filter((m) => m !== "");
  if (methods.length === 0) throw new UsageError("--methods: give at least one method");
  for (const m of methods) {
    if (!ONLINE_METHODS.includes(m)) {
      throw new UsageError(
        `--methods: unknown online method '${m}' (use ${ONLINE_METHODS.join(", ")})`,
      );
    }
    if ((m === "uogd" || m === "atlas") && !hasSource) {
      throw new UsageError(
        `--methods ${m} needs labelled source data: --run of a run, or --source-logits F --source-labels F`,
      );
    }
  }
  return { methods, skipped: [] };
}

function cell(v: number | null, digits: number): string {
  return v === null ? "-" : v.toFixed(digits);
}

/** A plain-text table of one stream's results. */
export function formatOnline(r: OnlineResult, description: string): string {
  const header = ["method", "accuracy", "prior L1", "regret"];
  const rows = Object.entries(r.methods).map(([name, m]) => [
    name,
    cell(m.accuracy, 2),
    cell(m.priorL1, 4),
    cell(m.regret, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  const out = [
    `schedule ${r.schedule}: ${r.rounds} rounds of ${r.perRound} test images; ${description}`,
    line(header),
    ...rows.map(line),
  ];
  for (const e of r.exhausted) {
    out.push(
      `  class ${e.label} ran out of its ${e.images} test images at round ${e.round}: ` +
        "its images are dealt again (with replacement)",
    );
  }
  if (r.reused > 0) out.push(`  ${r.reused} of ${r.rounds * r.perRound} draws reused an image`);
  return out.join("\n");
}

/** method x schedule: "accuracy / prior L1 / regret" per cell. */
export function formatOnlineSummary(results: readonly OnlineResult[]): string {
  const methods = Object.keys(results[0].methods);
  const header = ["method", ...results.map((r) => r.schedule), "mean accuracy"];
  const rows = methods.map((m) => {
    const cells = results.map((r) => {
      const x = r.methods[m];
      return `${x.accuracy.toFixed(2)} / ${cell(x.priorL1, 3)} / ${x.regret.toFixed(2)}`;
    });
    const mean = results.reduce((s, r) => s + r.methods[m].accuracy, 0) / results.length;
    return [m, ...cells, mean.toFixed(2)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  return ["accuracy (%) / prior L1 / regret, by schedule", line(header), ...rows.map(line)]
    .join("\n");
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** The contract's JSON of one stream. */
export function onlineJson(r: OnlineResult): Record<string, unknown> {
  const methods: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(r.methods)) {
    methods[name] = {
      accuracy: m.accuracy,
      prior_l1: m.priorL1,
      regret: m.regret,
      series: {
        accuracy: m.series.accuracy.map(round4),
        prior_l1: m.series.priorL1.map((v) => (v === null ? null : round4(v))),
        regret: m.series.regret.map(round4),
      },
    };
  }
  return { schedule: r.schedule, rounds: r.rounds, per_round: r.perRound, methods };
}

/** The flags that `--online` runs without. */
const NOT_WITH_ONLINE: readonly [keyof OnlineOptions | string, string][] = [
  ["shift", "--shift"],
  ["shiftFile", "--shift-file"],
  ["exportNpy", "--export-npy"],
  ["ttaEpochs", "--tta-epochs"],
  ["ttaLr", "--tta-lr"],
];

/** Runs `evaluate --online`. */
export async function evaluateOnlineCommand(
  options: OnlineOptions & Record<string, unknown>,
): Promise<void> {
  for (const [key, flag] of NOT_WITH_ONLINE) {
    if (options[key] !== undefined) {
      throw new UsageError(`--online cannot be combined with ${flag}`);
    }
  }
  if (options.prior !== undefined && options.prior !== "known") {
    throw new UsageError("--online cannot be combined with --prior (see --estimator)");
  }
  const rounds = integerFlag("--rounds", options.rounds);
  const perRound = integerFlag("--per-round", options.perRound) ?? DEFAULT_PER_ROUND;
  // Every numeric flag is checked before the (slow) predictions.
  const { seed } = scheduleFlags(options);
  const estimator = (options.estimator ?? "em").trim().toLowerCase();
  if (estimator !== "em" && estimator !== "bbse") {
    throw new UsageError(`unknown --estimator '${options.estimator}' (use em or bbse)`);
  }
  const calibrationMode = options.calibration === undefined
    ? undefined
    : parseEmCalibration(options.calibration);
  if (typeof options.report === "string") await checkOutputDir(options.report, "--report");
  const haveSourceFlags = options.run !== undefined ||
    (options.sourceLogits !== undefined || options.sourceLabels !== undefined);
  const { methods, skipped } = chooseMethods(options.methods, haveSourceFlags);
  if (estimator === "bbse" && !haveSourceFlags) {
    throw new UsageError(
      "--estimator bbse needs labelled source data: --run of a run, or --source-logits F --source-labels F",
    );
  }
  const started = performance.now();
  const preds: LoadedPredictions = await loadPredictions(options);
  let source: LoadedSource | undefined;
  try {
    const schedulePlans = await plans(options, preds.trainCounts, rounds);
    if (haveSourceFlags) {
      source = await loadSourceData(
        options,
        preds.trainCounts.length,
        predictionExperts(preds.method),
      );
    }
    const calibration: CalibrationKind | "none" = source === undefined
      ? "none"
      : calibrationMode ?? "bcts";
    if (calibrationMode !== undefined && calibrationMode !== "none" && source === undefined) {
      throw new UsageError(
        "--calibration needs labelled source data (--source-logits F --source-labels F)",
      );
    }
    using evaluator = new OnlineEvaluator(preds, {
      source,
      estimator: estimator as RoundEstimatorKind,
      calibration,
    });
    const results: OnlineResult[] = [];
    for (const plan of schedulePlans) {
      const stream = sampleStream(preds.labels, plan.marginals, perRound, seed);
      results.push(evaluator.run(stream, methods, { schedule: plan.name }));
    }
    const seconds = (performance.now() - started) / 1000;
    const notes = [
      `${preds.dataset}, method ${preds.method}, ${preds.labels.length} test images; ` +
      `rule ${evaluator.rule} (${ruleWords(evaluator.rule)})`,
      `per-round estimate: ${estimator === "bbse" ? "BBSE (soft confusion matrix)" : "MLLS (EM)"}` +
      (methods.some((m) => ROUND_ESTIMATE_METHODS.includes(m)) ? "" : " (unused)") +
      `; EM on ${
        evaluator.calibration
          ? `${evaluator.calibration.kind.toUpperCase()}-calibrated posteriors (T ${
            evaluator.calibration.temperature.toFixed(3)
          })`
          : "uncalibrated posteriors"
      }`,
      source ? `labelled source data: ${source.description}` : "no labelled source data",
      `seed ${seed}`,
    ];
    if (skipped.length > 0) {
      notes.push(`${skipped.join(" and ")} left out: they need labelled source data`);
    }
    if (options.json) {
      const json = results.map(onlineJson);
      console.log(JSON.stringify(json.length === 1 ? json[0] : json));
    } else {
      for (const line of notes) console.log(line);
      results.forEach((r, i) => console.log("\n" + formatOnline(r, schedulePlans[i].description)));
      if (results.length > 1) console.log("\n" + formatOnlineSummary(results));
      console.log(
        `\n(accuracy: mean over rounds, in %; prior L1: mean |prior - q_t|_1; regret: mean ` +
          `expected error minus the oracle's, in points; ${seconds.toFixed(1)} s)`,
      );
    }
    for (const r of results) {
      if (options.json && r.reused > 0) {
        printWarning(
          `${r.schedule}: ${r.reused} of ${r.rounds * r.perRound} draws reused an image ` +
            `(class ${r.exhausted.map((e) => e.label).join(", ")} ran out)`,
        );
      }
    }
    const reportDir = typeof options.report === "string"
      ? options.report
      : options.report !== false && options.run !== undefined
      ? join(options.run, "report")
      : undefined;
    if (reportDir !== undefined) {
      setPhase({
        doing: `writing the online report to ${join(reportDir, ONLINE_FOLDER)}`,
        intact: "an online report is written whole or not at all",
      });
      const files = await writeOnlineReport(reportDir, results, {
        title: `${preds.dataset}, ${preds.method}`,
        notes,
        classNames: preds.classNames,
      });
      if (!options.json) {
        console.log(`report: ${files.length} files in ${join(reportDir, ONLINE_FOLDER)}`);
      }
    }
  } finally {
    preds.logits.dispose();
    preds.views?.dispose();
    source?.logits.dispose();
  }
}

function ruleWords(rule: string): string {
  return rule === "lade"
    ? "argmax f + log q"
    : rule === "pc_softmax"
    ? "argmax f - log p_s + log q"
    : "argmax f";
}
