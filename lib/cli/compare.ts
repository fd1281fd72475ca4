/**
 * `lade compare RUN...`: several runs side by side over the shift grid, with
 * the target prior known, estimated (EM, BBSE) and not used; runs of one
 * recipe that differ only in their seed are aggregated (mean ± std). A RUN
 * is a run directory, a folder of run directories (`train --seeds` makes
 * one), or a JSON file of evaluations (`evaluate --shift all --json`'s output
 * or a report's results.json).
 *
 * @module
 */

import { plural } from "../plural.ts";
import { basename, dirname, join, resolve } from "node:path";
import { printWarning, UsageError } from "./errors.ts";
import { MAX_TEXT_BYTES, readInputJson } from "../input_file.ts";
import { readShiftFile, type ShiftSet } from "../data/mod.ts";
import {
  compareRuns,
  type Comparison,
  comparisonJson,
  comparisonMarkdown,
  formatComparison,
  formatWideComparison,
  type RunGrid,
  type SummaryMetrics,
} from "../eval/compare.ts";
import { evaluateGridAsync, evaluateSetsAsync } from "../eval/grid.ts";
import { setPhase } from "./signals.ts";
import { predictionExperts } from "../losses/methods.ts";
import { checkReplaceable, COMPARISON_FILES, writeComparisonReport } from "../eval/report.ts";
import { evaluationJson, parseEmCalibration } from "../eval/shifted.ts";
import { readManifest } from "../run/checkpoint.ts";
import { readRunInfo } from "../predict/run_predictions.ts";
import { parsePriorMode } from "./evaluate.ts";
import { type LoadedSource, loadPredictions, loadSourceData } from "./inputs.ts";
import { checkOutputFiles } from "./outputs.ts";

/** The flags of `compare`. */
export interface CompareOptions {
  json?: boolean;
  markdown?: boolean;
  /** One table of every variant (the prior sections side by side). */
  wide?: boolean;
  out?: string;
  /** Replace the files of an earlier comparison in --out. */
  force?: boolean;
  /** Target priors: known, em, bbse or all (default all). */
  prior?: string;
  calibration?: string;
  shiftFile?: string;
  device?: string;
  precision?: string;
}

/** The configuration keys that do not make runs different recipes (seeds of one recipe). */
const NOT_RECIPE = new Set(["seed", "name", "device", "threads"]);
const NOT_RECIPE_TRAIN = new Set(["precision", "cuda_graphs", "eval_every", "eval_batch_size"]);

/** A recipe's identity: its resolved configuration without the seed and the hardware. */
export function recipeKey(config: Record<string, unknown>): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (typeof v !== "object" || v === null) return v;
    return Object.fromEntries(
      Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
    );
  };
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) if (!NOT_RECIPE.has(k)) c[k] = v;
  if (typeof c.train === "object" && c.train !== null) {
    c.train = Object.fromEntries(
      Object.entries(c.train).filter(([k]) => !NOT_RECIPE_TRAIN.has(k)),
    );
  }
  return JSON.stringify(sorted(c));
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Natural order: seed2 before seed10. */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** What a RUN argument stands for: run directories or a JSON file. */
export async function expandRunArgs(
  args: readonly string[],
): Promise<({ kind: "run"; dir: string } | { kind: "json"; path: string })[]> {
  const out: ({ kind: "run"; dir: string } | { kind: "json"; path: string })[] = [];
  for (const arg of args) {
    if (arg.toLowerCase().endsWith(".json") && !(await isDir(arg))) {
      out.push({ kind: "json", path: arg });
      continue;
    }
    if (!(await isDir(arg))) throw new UsageError(`${arg}: no such run directory or JSON file`);
    if ((await readManifest(arg).catch(() => null)) !== null) {
      out.push({ kind: "run", dir: arg });
      continue;
    }
    const subs: string[] = [];
    for await (const e of Deno.readDir(arg)) {
      if (e.isDirectory && (await readManifest(join(arg, e.name)).catch(() => null)) !== null) {
        subs.push(e.name);
      }
    }
    if (subs.length === 0) {
      throw new UsageError(`${arg} holds no run (checkpoint.json) and no run directories`);
    }
    for (const s of subs.sort(naturalCompare)) out.push({ kind: "run", dir: join(arg, s) });
  }
  return out;
}

/** The range each metric of an evaluation may take (percentages, nats, Brier's 0..2). */
const METRIC_RANGES: Readonly<Record<string, [number, number]>> = {
  top1: [0, 100],
  top5: [0, 100],
  many: [0, 100],
  medium: [0, 100],
  few: [0, 100],
  ece: [0, 100],
  nll: [0, Number.MAX_VALUE],
  brier: [0, 2],
};

/**
 * The problem with one evaluation's metrics, or undefined: top-1 a number
 * in [0, 100], the others null or a number in their range.
 */
function metricsProblem(variant: string, m: unknown): string | undefined {
  if (typeof m !== "object" || m === null) return `variant '${variant}' is not an object`;
  for (const [key, [low, high]] of Object.entries(METRIC_RANGES)) {
    const v = (m as Record<string, unknown>)[key];
    if (v === undefined || v === null) {
      if (key === "top1") return `variant '${variant}' has no top1`;
      continue;
    }
    if (typeof v !== "number" || !Number.isFinite(v) || v < low || v > high) {
      return `variant '${variant}': ${key} ${typeof v === "number" ? v : JSON.stringify(v)} ` +
        `is outside [${low}, ${high === Number.MAX_VALUE ? "inf" : high}]`;
    }
  }
  return undefined;
}

/**
 * `items` without repeats: a run directory or JSON file given twice (or
 * through a link, or inside a seed group also given) is compared once, and
 * `progress` says so.
 */
export async function distinctRuns<
  T extends { kind: "run"; dir: string } | { kind: "json"; path: string },
>(
  items: readonly T[],
  progress: (line: string) => void = () => {},
): Promise<T[]> {
  const seen = new Map<string, string>();
  const out: T[] = [];
  for (const item of items) {
    const path = item.kind === "run" ? item.dir : item.path;
    const real = await Deno.realPath(path).catch(() => resolve(path));
    const first = seen.get(real);
    if (first !== undefined) {
      progress(
        first === path
          ? `${path} was given twice: compared once`
          : `${path} is the same ${
            item.kind === "run" ? "run" : "file"
          } as ${first}: compared once`,
      );
      continue;
    }
    seen.set(real, path);
    out.push(item);
  }
  return out;
}

/** The evaluations in a JSON file: an array of {shift, results}, or a report's results.json. */
export async function readEvaluationsJson(
  path: string,
): Promise<{ method?: string; evaluations: RunGrid["evaluations"] }> {
  let value: unknown;
  try {
    value = await readInputJson(path, { maxBytes: MAX_TEXT_BYTES, what: "evaluations" });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const obj = value as { method?: unknown; evaluations?: unknown };
  const list = Array.isArray(value)
    ? value
    : typeof value === "object" && value !== null && Array.isArray(obj.evaluations)
    ? obj.evaluations
    : typeof value === "object" && value !== null && "results" in value
    ? [value]
    : undefined;
  const ok = list?.every((e) =>
    typeof e === "object" && e !== null && typeof e.shift === "string" &&
    typeof e.results === "object" && e.results !== null && !Array.isArray(e.results) &&
    Object.values(e.results).every((m) =>
      typeof m === "object" && m !== null && typeof (m as SummaryMetrics).top1 === "number"
    )
  );
  if (!list || !ok || list.length === 0) {
    throw new UsageError(
      `${path}: expected evaluate --json output ({shift, results: {variant: {top1, ...}}}, or an array of them) or a report's results.json`,
    );
  }
  const seen = new Set<string>();
  for (const e of list as { shift: string; results: Record<string, unknown> }[]) {
    // The same shifted set twice would be averaged as if it were two.
    if (seen.has(e.shift)) {
      throw new UsageError(`${path}: shift '${e.shift}' is listed twice`);
    }
    seen.add(e.shift);
    for (const [variant, m] of Object.entries(e.results)) {
      const problem = metricsProblem(variant, m);
      if (problem !== undefined) throw new UsageError(`${path}: shift '${e.shift}', ${problem}`);
    }
  }
  return {
    method: typeof obj.method === "string" ? obj.method : undefined,
    evaluations: list.map((e: { shift: string; results: Record<string, SummaryMetrics> }) => ({
      shift: e.shift,
      results: e.results,
    })),
  };
}

/** Labels that tell groups apart: the method, plus the runs' folder when methods repeat. */
function labelGroups(
  groups: { key: string; method: string; dataset: string; dirs: string[] }[],
): Map<string, string> {
  const labels = new Map<string, string>();
  const datasets = new Set(groups.map((g) => g.dataset));
  const base = (g: (typeof groups)[number]) =>
    datasets.size > 1 ? `${g.dataset} ${g.method}` : g.method;
  const count = new Map<string, number>();
  for (const g of groups) count.set(base(g), (count.get(base(g)) ?? 0) + 1);
  const used = new Set<string>();
  for (const g of groups) {
    let label = base(g);
    if (count.get(label)! > 1) {
      // The folder of a seed group, or the run directory itself.
      const d = g.dirs[0];
      const where = /^seed\d+$/.test(basename(d)) ? basename(dirname(d)) : basename(d);
      label = `${label} (${where})`;
    }
    let unique = label;
    for (let k = 2; used.has(unique); k++) unique = `${label} #${k}`;
    used.add(unique);
    labels.set(g.key, unique);
  }
  return labels;
}

/**
 * The label of an evaluation JSON file: its stem (a report's results.json:
 * its run's folder), with its folder before it when another file of the
 * comparison has the same stem (two runs' `eval.json`), so that no two
 * files share a line.
 */
function jsonLabel(path: string, items: readonly { kind: string; path?: string }[]): string {
  const stem = (p: string) => {
    const s = basename(p).replace(/\.json$/i, "");
    return s === "results" ? basename(dirname(dirname(p))) : s;
  };
  const mine = stem(path);
  const same = items.filter((i) =>
    i.kind === "json" && i.path !== undefined && stem(i.path) === mine
  );
  return same.length > 1 && basename(path) !== "results.json"
    ? `${basename(dirname(path))}/${mine}`
    : mine;
}

/** Evaluates one run directory over the grid (or the shift file's sets). */
async function evaluateRun(
  dir: string,
  options: CompareOptions,
  shiftFileSets: (labels: Int32Array, classes: number) => Promise<ShiftSet[] | undefined>,
): Promise<{ evaluations: RunGrid["evaluations"]; source?: LoadedSource }> {
  const mode = parsePriorMode(options.prior ?? "all");
  const emCalibration = parseEmCalibration(options.calibration);
  const input = { run: dir, device: options.device, precision: options.precision };
  // A multi-expert (SADE) run also predicts augmented views of the test
  // images for its test-time aggregation, as evaluate does by default.
  // (The recipe's test-time settings: epochs, optimiser, views.)
  const preds = await loadPredictions({ ...input, views: {} });
  let source: LoadedSource | undefined;
  try {
    const sets = await shiftFileSets(preds.labels, preds.trainCounts.length);
    // A multi-expert model's variants use no target prior: no source data.
    const wantSource = predictionExperts(preds.method) === 1 &&
      (mode === "bbse" || mode === "all" || (mode === "em" && emCalibration !== "none"));
    if (wantSource) source = await loadSourceData(input, preds.trainCounts.length);
    // LADE-like runs also with their prior-free rule (argmax f), beside SADE's.
    const shiftOptions = {
      prior: mode,
      source,
      emCalibration,
      uniformRule: true,
      aggregation: preds.testTime,
    };
    const evals = sets === undefined
      ? await evaluateGridAsync(preds, shiftOptions)
      : await evaluateSetsAsync(preds, sets, shiftOptions);
    const evaluations = evals.map((e) => {
      const j = evaluationJson(e) as { shift: string; results: Record<string, SummaryMetrics> };
      return { shift: j.shift, results: j.results };
    });
    return { evaluations, source };
  } finally {
    preds.logits.dispose();
    preds.views?.dispose();
    source?.logits.dispose();
  }
}

/** Builds the comparison of `args` (evaluating run directories). */
export async function buildComparison(
  args: readonly string[],
  options: CompareOptions = {},
  progress: (line: string) => void = () => {},
): Promise<Comparison> {
  if (args.length === 0) throw new UsageError("compare needs at least one RUN");
  const items = await distinctRuns(await expandRunArgs(args), progress);
  // Two runs of one recipe with one seed are not two seeds: their spread
  // would be a spurious 0. Found before the (slow) evaluations.
  const bySeed = new Map<string, string>();
  for (const item of items) {
    if (item.kind !== "run") continue;
    const info = await readRunInfo(item.dir);
    if (typeof info.config.seed !== "number") continue;
    const key = `${recipeKey(info.config)}\u0000${info.config.seed}`;
    const other = bySeed.get(key);
    if (other !== undefined) {
      throw new UsageError(
        `${other} and ${item.dir} are the same recipe with the same seed ` +
          `(${info.config.seed}): not two seeds; compare one of them, or train another seed`,
      );
    }
    bySeed.set(key, item.dir);
  }
  const shiftFileSets = async (labels: Int32Array, classes: number) =>
    options.shiftFile === undefined
      ? undefined
      : await readShiftFile(options.shiftFile, labels, classes);
  const runs: (RunGrid & { method: string; dataset: string })[] = [];
  let k = 0;
  for (const item of items) {
    k++;
    if (item.kind === "json") {
      const j = await readEvaluationsJson(item.path);
      const label = jsonLabel(item.path, items);
      runs.push({
        source: item.path,
        group: `file:${item.path}`,
        label,
        seed: null,
        method: j.method ?? label,
        dataset: "",
        evaluations: j.evaluations,
      });
      continue;
    }
    const info = await readRunInfo(item.dir);
    progress(`evaluating ${item.dir} (${k}/${items.length})`);
    const { evaluations, source } = await evaluateRun(item.dir, options, shiftFileSets);
    if (source?.split === "train") {
      progress(
        `  ${item.dir}: no validation split; BBSE and EM's calibration used the training split`,
      );
    }
    runs.push({
      source: item.dir,
      group: recipeKey(info.config),
      label: "",
      seed: typeof info.config.seed === "number" ? info.config.seed : null,
      method: info.method,
      dataset: info.dataset,
      evaluations,
    });
  }
  const groups: { key: string; method: string; dataset: string; dirs: string[] }[] = [];
  for (const r of runs) {
    const g = groups.find((x) => x.key === r.group);
    if (g) g.dirs.push(r.source);
    else groups.push({ key: r.group, method: r.method, dataset: r.dataset, dirs: [r.source] });
  }
  const labels = labelGroups(groups.filter((g) => !g.key.startsWith("file:")));
  for (const r of runs) if (labels.has(r.group)) r.label = labels.get(r.group)!;
  return compareRuns(runs);
}

/** Runs `compare`. */
export async function compareCommand(args: string[], options: CompareOptions): Promise<void> {
  if (options.json && options.markdown) throw new UsageError("give --json or --markdown, not both");
  // The output folder is checked before the (slow) evaluations.
  if (options.out !== undefined) {
    await checkOutputFiles(options.out, COMPARISON_FILES, { flag: "--out", force: options.force });
    await checkReplaceable(options.out, "comparison.json", "out");
  }
  const c = await buildComparison(args, options, (line) => console.error(line));
  if (options.json) console.log(JSON.stringify(comparisonJson(c)));
  else if (options.wide) console.log(formatWideComparison(c, options.markdown));
  else if (options.markdown) console.log(comparisonMarkdown(c));
  else console.log(formatComparison(c));
  if (options.out !== undefined) {
    setPhase({
      doing: `writing the comparison to ${options.out}`,
      intact:
        `${options.out} is as it was (it is written whole or not at all); the runs are untouched`,
    });
    const files = await writeComparisonReport(options.out, c);
    if (!options.json) {
      console.log(`\ncomparison: ${plural(files.length, "file")} in ${options.out}`);
    }
  }
  const seeds = c.groups.filter((g) => g.runs.length > 1).length;
  if (seeds === 0 && c.groups.length > 0 && !options.json) {
    printWarning("each group has one run: no spread over seeds (train with --seeds 0,1,2)");
  }
}
