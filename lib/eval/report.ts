/**
 * The evaluation report (training's runDir/report/, an evaluation's
 * runDir/report-<shift>-<prior>-<time>/, or a folder given): results.json,
 * SVG plots (accuracy across the shift grid, reliability diagram with the
 * samples of each bin, per-class accuracy with class names, the confusion
 * matrix), per_class.csv and confusion_<variant>.csv, and an index.html that
 * shows them; and the report of a comparison of several runs (`compare --out`).
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../errors.ts";
import { type PutFile, writeDirAtomic } from "../fs.ts";
import {
  accuracyGridSpec,
  compareGridSpec,
  compareMeanSpec,
  CONFUSION_PLOT_LIMIT,
  confusionSpec,
  perClassSpec,
  reliabilitySpec,
  renderSvg,
} from "./plots.ts";
import {
  type Comparison,
  comparisonHtml,
  comparisonJson,
  comparisonMarkdown,
  describeGroups,
  formatComparison,
  formatWideComparison,
} from "./compare.ts";
import type { ShiftEvaluation } from "./shifted.ts";
import { AGGREGATION_VARIANT, AVERAGE_VARIANT } from "./experts.ts";
import { escapeHtml } from "./html.ts";

/** What the report describes besides the evaluations. */
export interface ReportContext {
  method: string;
  dataset: string;
  trainCounts: number[];
  classNames: string[];
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? "n/a" : v.toFixed(digits);
}

/**
 * The shifted set a report's per-set plots and tables show: the uniform one
 * when it was evaluated, else the first (evaluate asks for that set's
 * confusion matrices).
 */
export function reportFocus(shifts: readonly string[]): string | undefined {
  return shifts.includes("uniform") ? "uniform" : shifts[0];
}

/**
 * The variant a report's single-variant plots show (the confusion matrix,
 * the reliability bins' counts): the rule that uses the known target prior
 * (LADE's, PC softmax) or SADE's aggregation, else the first.
 */
export function headlineVariant(variants: readonly string[]): string {
  for (const v of ["lade", "pc_softmax", AGGREGATION_VARIANT, AVERAGE_VARIANT]) {
    if (variants.includes(v)) return v;
  }
  return variants[0];
}

/** A CSV cell (RFC 4180): text quoted when it holds a comma, quote or line break. */
function csvCell(v: string | number | null): string {
  if (v === null) return "";
  const text = typeof v === "number" ? String(v) : v;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csv(rows: readonly (readonly (string | number | null)[])[]): string {
  return rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
}

/**
 * per_class.csv: a row per class (index, name, training images, test images
 * of the set) and its top-1 (%) under each variant; empty where the set has
 * no image of the class.
 */
export function perClassCsv(e: ShiftEvaluation, ctx: ReportContext): string {
  const variants = Object.keys(e.results);
  const rows: (string | number | null)[][] = [[
    "class",
    "name",
    "train_images",
    "test_images",
    ...variants.map((v) => `top1_${v}`),
  ]];
  for (let c = 0; c < ctx.trainCounts.length; c++) {
    rows.push([
      c,
      ctx.classNames[c] ?? String(c),
      ctx.trainCounts[c],
      e.counts[c],
      ...variants.map((v) => e.results[v].perClass[c]),
    ]);
  }
  return csv(rows);
}

/** A confusion matrix as CSV: a header of predicted classes, a row per true class. */
export function confusionCsv(
  matrix: readonly (readonly number[])[],
  classNames: readonly string[],
): string {
  const name = (c: number) => classNames[c] ?? String(c);
  return csv([
    ["true \\ predicted", ...matrix.map((_, p) => name(p))],
    ...matrix.map((row, t) => [name(t), ...row]),
  ]);
}

/** A variant name as part of a file name (`pc_softmax+em` stays; anything else odd becomes _). */
function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_+.-]/g, "_");
}

/**
 * The files by which a folder is seen to hold a report already (writing
 * another there needs --force); a report also writes confusion-matrix files
 * named after its variants.
 */
export const REPORT_FILES: readonly string[] = [
  "results.json",
  "accuracy_grid.svg",
  "reliability.svg",
  "per_class.svg",
  "per_class.csv",
  "index.html",
];

/** The files `writeComparisonReport` writes. */
export const COMPARISON_FILES: readonly string[] = [
  "comparison.json",
  "table.md",
  "table.txt",
  "accuracy_grid.svg",
  "grid_mean.svg",
  "index.html",
];

/**
 * Writes the report into `dir` (created if needed); returns the files
 * written. The folder is written whole or not at all (lib/fs.ts
 * writeDirAtomic): on a full disk an OutputWriteError names the file that
 * failed, and the folder keeps the report it had.
 */
export async function writeReport(
  dir: string,
  evals: readonly ShiftEvaluation[],
  ctx: ReportContext,
): Promise<string[]> {
  if (evals.length === 0) return [];
  await checkReplaceable(dir);
  // The whole folder at once: a report is never some new files among old ones.
  return await writeDirAtomic(dir, async (_tmp, put) => {
    const names = await writeReportFiles(put, evals, ctx);
    return names.map((name) => join(dir, name));
  });
}

/** The kinds of file a report folder holds. */
const REPORT_FILE = /\.(json|html|svg|csv|png|md|txt)$/;

/**
 * A report replaces its folder as a whole, so the folder must be new,
 * empty, or an earlier report (its `marker` file, results.json or
 * comparison.json, and index.html, and only the kinds of file a report
 * holds): never a folder of other things. `parameter`: the option that
 * named the folder, for the message. (The writers check again; commands
 * call it first too, so that a refusal comes before the slow work.)
 */
export async function checkReplaceable(
  dir: string,
  marker = "results.json",
  parameter = "report",
): Promise<void> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.isFile ? e.name : `${e.name}/`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (e instanceof Deno.errors.NotADirectory) {
      throw new InputError(parameter, `${dir} exists and is not a folder`);
    }
    throw e;
  }
  if (names.length === 0) return;
  const report = names.includes(marker) && names.includes("index.html") &&
    names.every((n) => REPORT_FILE.test(n));
  if (!report) {
    throw new InputError(
      parameter,
      `${dir} holds other files than a report (${names.slice(0, 3).join(", ")}` +
        `${names.length > 3 ? ", ..." : ""}); give a new or empty folder`,
    );
  }
}

/** Writes the report's files with `putFile`; returns their names. */
async function writeReportFiles(
  putFile: PutFile,
  evals: readonly ShiftEvaluation[],
  ctx: ReportContext,
): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await putFile(name, text);
    written.push(name);
  };
  // Confusion matrices go to their own CSV files, not into results.json (C x C numbers each).
  const withoutConfusion = evals.map((e) => ({
    ...e,
    results: Object.fromEntries(
      Object.entries(e.results).map(([v, m]) => {
        const { confusion: _, ...rest } = m;
        return [v, rest];
      }),
    ),
  }));
  await put(
    "results.json",
    JSON.stringify({ ...ctx, evaluations: withoutConfusion }, null, 1) + "\n",
  );
  // The per-set plots and tables show the uniform target when it was evaluated.
  const focus = evals.find((e) => e.shift === reportFocus(evals.map((x) => x.shift)))!;
  const variants = Object.keys(focus.results);
  const headline = headlineVariant(variants);
  const plots: [string, string][] = [
    ["reliability.svg", await renderSvg(reliabilitySpec(focus, headline))],
    ["per_class.svg", await renderSvg(perClassSpec(focus, ctx.trainCounts, ctx.classNames))],
  ];
  if (evals.length > 1) {
    plots.unshift(["accuracy_grid.svg", await renderSvg(accuracyGridSpec(evals))]);
  }
  const matrix = focus.results[headline].confusion;
  const classes = ctx.trainCounts.length;
  if (matrix !== undefined && classes <= CONFUSION_PLOT_LIMIT) {
    plots.push([
      "confusion.svg",
      await renderSvg(confusionSpec(matrix, ctx.classNames, headline, focus.shift)),
    ]);
  }
  for (const [name, svg] of plots) await put(name, svg);
  const tables: string[] = ["per_class.csv"];
  await put("per_class.csv", perClassCsv(focus, ctx));
  for (const v of variants) {
    const m = focus.results[v].confusion;
    if (m === undefined) continue;
    const name = `confusion_${fileSafe(v)}.csv`;
    await put(name, confusionCsv(m, ctx.classNames));
    tables.push(name);
  }

  const rows = evals.flatMap((e) =>
    Object.entries(e.results).map(([v, m]) =>
      `<tr><td>${escapeHtml(e.shift)}</td><td>${escapeHtml(v)}</td><td>${fmt(m.top1)}</td><td>${
        fmt(m.top5)
      }</td>` +
      `<td>${fmt(m.many)}</td><td>${fmt(m.medium)}</td><td>${fmt(m.few)}</td>` +
      `<td>${fmt(m.ece)}</td><td>${fmt(m.nll, 4)}</td><td>${fmt(m.brier, 4)}</td></tr>`
    )
  ).join("\n");
  const aggregated = evals.filter((e) => e.aggregation !== undefined);
  const aggregation = aggregated.length === 0 ? "" : `<h2>Test-time aggregation of the experts</h2>
<p>The weights of the experts that SADE's test-time self-supervised aggregation learned on
each shifted test set: transductive, fitted on that set's unlabelled images (never its
labels) and then used to classify them, as EM's prior estimate is.</p>
<table><tr><th>shift</th>${
    aggregated[0].aggregation!.weights.map((_, e) => `<th>expert ${e + 1}</th>`).join("")
  }<th>epochs</th></tr>
${
    aggregated.map((e) =>
      `<tr><td>${escapeHtml(e.shift)}</td>${
        e.aggregation!.weights.map((w) => `<td>${w.toFixed(3)}</td>`).join("")
      }<td>${e.aggregation!.epochs}</td></tr>`
    ).join("\n")
  }
</table>`;
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>lade report: ${escapeHtml(ctx.dataset)} ${
    escapeHtml(ctx.method)
  }</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}</style></head>
<body><h1>${escapeHtml(ctx.dataset)}, ${escapeHtml(ctx.method)}</h1>
<p>Accuracies and ECE in percent; NLL in nats; Brier = sum_c p_c^2 - 2 p_y + 1.
Top-1 and top-5 count samples; many, medium and few (classes with &gt; 100, 20 to 100 and
&lt; 20 training images) are the mean of their classes' accuracies, each class counting once
(n/a: no class of the group, or none with a test sample in the set).</p>
${plots.map(([name]) => `<p><img src="${name}"></p>`).join("\n")}
<p>Tables (${escapeHtml(focus.shift)}): ${
    tables.map((t) => `<a href="${escapeHtml(t)}">${escapeHtml(t)}</a>`).join(", ")
  }${
    matrix !== undefined && classes > CONFUSION_PLOT_LIMIT
      ? ` (the confusion matrix of ${classes} classes is in the CSV only)`
      : ""
  }</p>
<table><tr><th>shift</th><th>variant</th><th>top-1<br>(samples)</th><th>top-5<br>(samples)</th><th>many<br>(class mean)</th><th>medium<br>(class mean)</th><th>few<br>(class mean)</th><th>ECE</th><th>NLL</th><th>Brier</th></tr>
${rows}
</table>
${aggregation}</body></html>
`;
  await put("index.html", html);
  return written;
}

/**
 * Writes a comparison of several runs into `dir`: comparison.json, table.md,
 * table.txt, accuracy_grid.svg (every group's variant a line, a panel per
 * use of the target prior), grid_mean.svg and an index.html; returns the
 * files written, all or nothing (see `writeReport`).
 */
export async function writeComparisonReport(dir: string, c: Comparison): Promise<string[]> {
  await checkReplaceable(dir, "comparison.json", "out");
  // The whole folder at once, as a run's report.
  return await writeDirAtomic(dir, async (_tmp, put) => {
    const names = await writeComparisonFiles(put, c);
    return names.map((name) => join(dir, name));
  });
}

/** Writes the comparison's files with `putFile`; returns their names. */
async function writeComparisonFiles(putFile: PutFile, c: Comparison): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await putFile(name, text);
    written.push(name);
  };
  await put("comparison.json", JSON.stringify(comparisonJson(c), null, 1) + "\n");
  const md = comparisonMarkdown(c);
  await put("table.md", md);
  // Every variant side by side (compare --wide).
  await put("table_wide.md", formatWideComparison(c, true) + "\n");
  await put("table.txt", formatComparison(c) + "\n");
  const plots: [string, string][] = [
    ["accuracy_grid.svg", await renderSvg(compareGridSpec(c))],
    ["grid_mean.svg", await renderSvg(compareMeanSpec(c))],
  ];
  for (const [name, svg] of plots) await put(name, svg);
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>lade comparison</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1336px}img{max-width:100%}
table.grid{border-collapse:collapse;font-size:13px;margin-bottom:1.5em}
table.grid td,table.grid th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}
table.grid tr:first-child th{max-width:14em;white-space:normal;overflow-wrap:anywhere;vertical-align:bottom}
table.grid td{white-space:nowrap}</style></head>
<body><h1>Comparison of ${c.groups.length} group(s) of runs</h1>
<ul>${describeGroups(c).map((l) => `<li>${escapeHtml(l)}</li>`).join("")}</ul>
${plots.map(([name]) => `<p><img src="${name}"></p>`).join("\n")}
<h2>Top-1 accuracy (%) per shifted set</h2>
${comparisonHtml(c)}
<p>The same as text: <a href="table.txt">table.txt</a>, Markdown: <a href="table.md">table.md</a>,
data: <a href="comparison.json">comparison.json</a>.</p>
</body></html>
`;
  await put("index.html", html);
  return written;
}
