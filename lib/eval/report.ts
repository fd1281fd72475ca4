/**
 * The run's evaluation report: runDir/report/ with results.json, SVG plots
 * (accuracy across the shift grid, reliability diagram, per-class accuracy
 * against training count) and an index.html that shows them; and the report
 * of a comparison of several runs (`compare --out`).
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../errors.ts";
import { writeDirAtomic, writeFileAtomic } from "../fs.ts";
import {
  accuracyGridSpec,
  compareGridSpec,
  compareMeanSpec,
  perClassSpec,
  reliabilitySpec,
  renderSvg,
} from "./plots.ts";
import {
  type Comparison,
  comparisonJson,
  comparisonMarkdown,
  describeGroups,
  formatComparison,
} from "./compare.ts";
import type { ShiftEvaluation } from "./shifted.ts";

/** What the report describes besides the evaluations. */
export interface ReportContext {
  method: string;
  dataset: string;
  trainCounts: number[];
  classNames: string[];
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? "-" : v.toFixed(digits);
}

/** Writes the report into `dir` (created if needed); returns the files written. */
export async function writeReport(
  dir: string,
  evals: readonly ShiftEvaluation[],
  ctx: ReportContext,
): Promise<string[]> {
  if (evals.length === 0) return [];
  await checkReplaceable(dir);
  // The whole folder at once: a report is never some new files among old ones.
  return await writeDirAtomic(dir, async (tmp) => {
    const names = await writeReportFiles(tmp, evals, ctx);
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
 * named the folder, for the message.
 */
async function checkReplaceable(
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

/** Writes the report's files into `dir` (which exists); returns their names. */
async function writeReportFiles(
  dir: string,
  evals: readonly ShiftEvaluation[],
  ctx: ReportContext,
): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFileAtomic(join(dir, name), text);
    written.push(name);
  };
  await put("results.json", JSON.stringify({ ...ctx, evaluations: evals }, null, 1) + "\n");
  // The reliability and per-class plots show the uniform target when it was evaluated.
  const focus = evals.find((e) => e.shift === "uniform") ?? evals[0];
  const plots: [string, string][] = [
    ["reliability.svg", await renderSvg(reliabilitySpec(focus))],
    ["per_class.svg", await renderSvg(perClassSpec(focus, ctx.trainCounts, ctx.classNames))],
  ];
  if (evals.length > 1) {
    plots.unshift(["accuracy_grid.svg", await renderSvg(accuracyGridSpec(evals))]);
  }
  for (const [name, svg] of plots) await put(name, svg);

  const rows = evals.flatMap((e) =>
    Object.entries(e.results).map(([v, m]) =>
      `<tr><td>${e.shift}</td><td>${v}</td><td>${fmt(m.top1)}</td><td>${fmt(m.top5)}</td>` +
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
      `<tr><td>${e.shift}</td>${
        e.aggregation!.weights.map((w) => `<td>${w.toFixed(3)}</td>`).join("")
      }<td>${e.aggregation!.epochs}</td></tr>`
    ).join("\n")
  }
</table>`;
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>lade report: ${ctx.dataset} ${ctx.method}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}</style></head>
<body><h1>${ctx.dataset}, ${ctx.method}</h1>
<p>Accuracies and ECE in percent; NLL in nats; Brier = sum_c p_c^2 - 2 p_y + 1.</p>
${plots.map(([name]) => `<p><img src="${name}"></p>`).join("\n")}
<table><tr><th>shift</th><th>variant</th><th>top-1</th><th>top-5</th><th>many</th><th>medium</th><th>few</th><th>ECE</th><th>NLL</th><th>Brier</th></tr>
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
 * files written.
 */
export async function writeComparisonReport(dir: string, c: Comparison): Promise<string[]> {
  await checkReplaceable(dir, "comparison.json", "out");
  // The whole folder at once, as a run's report.
  return await writeDirAtomic(dir, async (tmp) => {
    const names = await writeComparisonFiles(tmp, c);
    return names.map((name) => join(dir, name));
  });
}

/** Writes the comparison's files into `dir` (which exists); returns their names. */
async function writeComparisonFiles(dir: string, c: Comparison): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFileAtomic(join(dir, name), text);
    written.push(name);
  };
  await put("comparison.json", JSON.stringify(comparisonJson(c), null, 1) + "\n");
  const md = comparisonMarkdown(c);
  await put("table.md", md);
  await put("table.txt", formatComparison(c) + "\n");
  const plots: [string, string][] = [
    ["accuracy_grid.svg", await renderSvg(compareGridSpec(c))],
    ["grid_mean.svg", await renderSvg(compareMeanSpec(c))],
  ];
  for (const [name, svg] of plots) await put(name, svg);
  const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>lade comparison</title>
<style>body{font-family:sans-serif;margin:2em}pre{font-size:13px}</style></head>
<body><h1>Comparison of ${c.groups.length} group(s) of runs</h1>
<ul>${describeGroups(c).map((l) => `<li>${escape(l)}</li>`).join("")}</ul>
${plots.map(([name]) => `<p><img src="${name}"></p>`).join("\n")}
<pre>${escape(formatComparison(c))}</pre>
</body></html>
`;
  await put("index.html", html);
  return written;
}
