/**
 * The run's evaluation report: runDir/report/ with results.json, SVG plots
 * (accuracy across the shift grid, reliability diagram, per-class accuracy
 * against training count) and an index.html that shows them; and the report
 * of a comparison of several runs (`compare --out`).
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../fs.ts";
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
  formatWideComparison,
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
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFileAtomic(join(dir, name), text);
    written.push(join(dir, name));
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
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFileAtomic(join(dir, name), text);
    written.push(join(dir, name));
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
