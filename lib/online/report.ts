/**
 * The online evaluation's part of a run's report (runDir/report/):
 * online.json (every method's per-round series and the marginals),
 * online_<schedule>.svg (the plot of each stream, plot.ts) and online.html
 * (the plots and the summary table); the grid report's index.html, when it
 * is there, gets a link to online.html.
 *
 * @module
 */

import { join } from "node:path";
import { type PutFile, writeDirAtomic, writeFileAtomic } from "../fs.ts";
import { InputError } from "../errors.ts";
import { escapeHtml } from "../eval/html.ts";
import { renderSvg } from "../eval/plots.ts";
import type { OnlineResult } from "./evaluate.ts";
import { onlineSpec } from "./plot.ts";

/** A file name for a schedule (a marginals file's path becomes its base name). */
export function scheduleFileName(schedule: string): string {
  const base = schedule.split(/[\\/]/).pop() ?? schedule;
  return `online_${base.replace(/[^A-Za-z0-9_.-]+/g, "_")}.svg`;
}

function cell(v: number | null, digits: number): string {
  return v === null ? "-" : v.toFixed(digits);
}

/** What the report says about the evaluation besides the results. */
export interface OnlineReportContext {
  /** "dataset, method" and the like: the page's heading. */
  title: string;
  /** Lines describing the setup (rule, estimator, labelled data). */
  notes: string[];
  /** Class names for the plot's legend. */
  classNames?: readonly string[];
}

/**
 * Writes the online report into `dir/online/` (the folder whole, or not at
 * all, replacing an earlier online report) and links it from `dir`'s grid
 * report, if there is one; returns the files written.
 */
export async function writeOnlineReport(
  dir: string,
  results: readonly OnlineResult[],
  ctx: OnlineReportContext,
): Promise<string[]> {
  const folder = join(dir, ONLINE_FOLDER);
  const held = await Array.fromAsync(Deno.readDir(folder)).catch(() => null);
  if (held !== null && held.length > 0 && !held.some((e) => e.name === "online.json")) {
    throw new InputError("report", `${folder} holds other files than an online report`);
  }
  await Deno.mkdir(dir, { recursive: true });
  const written = await writeDirAtomic(folder, (_tmp, put) => writeOnlineFiles(put, results, ctx));
  await linkFromIndex(dir);
  return written.map((name) => join(folder, name));
}

/** The folder of a report that holds the online report. */
export const ONLINE_FOLDER = "online";

/** Writes the online report's files with `putFile`; returns their names. */
async function writeOnlineFiles(
  putFile: PutFile,
  results: readonly OnlineResult[],
  ctx: OnlineReportContext,
): Promise<string[]> {
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await putFile(name, text);
    written.push(name);
  };
  await put("online.json", JSON.stringify({ title: ctx.title, notes: ctx.notes, results }) + "\n");
  const sections: string[] = [];
  for (const r of results) {
    const svg = scheduleFileName(r.schedule);
    await put(svg, await renderSvg(onlineSpec(r, ctx.classNames)));
    const rows = Object.entries(r.methods).map(([name, m]) =>
      `<tr><td>${escapeHtml(name)}</td><td>${cell(m.accuracy, 2)}</td><td>${
        cell(m.priorL1, 4)
      }</td><td>${cell(m.regret, 2)}</td></tr>`
    ).join("\n");
    sections.push(`<h2>${escapeHtml(r.schedule)}: ${r.rounds} rounds of ${r.perRound}</h2>
<p><img src="${svg}"></p>
<table><tr><th>method</th><th>accuracy (%)</th><th>prior L1</th><th>regret</th></tr>
${rows}
</table>`);
  }
  await put(
    "online.html",
    `<!doctype html>
<html><head><meta charset="utf-8"><title>lade online label shift: ${escapeHtml(ctx.title)}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}</style></head>
<body><h1>Online label shift: ${escapeHtml(ctx.title)}</h1>
${ctx.notes.map((l) => `<p>${escapeHtml(l)}</p>`).join("\n")}
<p>Accuracy: the mean over rounds of the accuracy on each round's samples, predicting round t
with what the method knew after round t - 1. Prior L1: |prior used - q_t|_1. Regret: the mean
over rounds of the method's expected error under q_t (on the whole test split) minus the
oracle's, in percentage points.</p>
${sections.join("\n")}
<p><a href="../index.html">the shift-grid report</a></p>
</body></html>
`,
  );
  return written;
}

/** Adds a link to online/online.html to the grid report's index.html, if there is one without it. */
async function linkFromIndex(dir: string): Promise<void> {
  const index = join(dir, "index.html");
  let html: string;
  try {
    html = await Deno.readTextFile(index);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const href = `${ONLINE_FOLDER}/online.html`;
  if (html.includes(`href="${href}"`) || !html.includes("</body>")) return;
  await writeFileAtomic(
    index,
    html.replace("</body>", `<p><a href="${href}">online label shift</a></p>\n</body>`),
  );
}
