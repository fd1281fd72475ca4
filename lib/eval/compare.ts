/**
 * Several runs side by side over the shift grid: runs of the same recipe
 * that differ only in their seed form a group, and every cell (group,
 * prediction variant, shifted set) is the mean and sample standard
 * deviation (n - 1) over the group's seeds. The grid mean is taken per run
 * first, then aggregated the same way.
 *
 * Variants are picked generically from the evaluations (any name a method's
 * rules produce, e.g. SADE's `sade_*`), and sorted by how they use the
 * target prior: `known` (the true target prior, an oracle), an estimate (the
 * `+em`, `+bbse` suffixes: estimated from the unlabelled test predictions),
 * or `none` (the prior ignored: argmax f, i.e. the training prior for
 * softmax models and the uniform one for LADE-like models). A variant counts
 * as `known` when the run also has an estimated form of it (`V+em`), or when
 * it is one of lade's own rules that use the target prior. A product of
 * experts' variants say their use in their names (`balpoe`, `balpoe_oracle`,
 * `balpoe_em`: lib/eval/product.ts).
 *
 * @module
 */

import { escapeHtml } from "./html.ts";
import { productVariantUse } from "./product.ts";
import { RULES, usesTargetPrior } from "./rules.ts";

/** The summary metrics of one variant on one shifted set (what `evaluate --json` prints). */
export interface SummaryMetrics {
  top1: number;
  top5?: number | null;
  many?: number | null;
  medium?: number | null;
  few?: number | null;
  ece?: number | null;
  nll?: number | null;
  brier?: number | null;
}

/** The metrics compare aggregates, in this order. */
export const COMPARE_METRICS = [
  "top1",
  "top5",
  "many",
  "medium",
  "few",
  "ece",
  "nll",
  "brier",
] as const;

/** One aggregated metric. */
export type CompareMetric = typeof COMPARE_METRICS[number];

/** One run's evaluations over the shifted sets. */
export interface RunGrid {
  /** Where it came from (a run directory or a JSON file). */
  source: string;
  /** Runs with the same group key are seeds of one recipe. */
  group: string;
  /** The group's label in tables and legends. */
  label: string;
  /** The run's seed (null when unknown). */
  seed: number | null;
  /** Per shifted set: its name and each variant's metrics. */
  evaluations: { shift: string; results: Record<string, SummaryMetrics> }[];
}

/** How a variant uses the target prior: `known`, `none`, or the estimator's name (`em`, `bbse`). */
export type PriorUse = string;

/** The order of the sections: known, the estimates, none. */
export function priorUseOrder(use: PriorUse): number {
  return use === "known" ? 0 : use === "none" ? 3 : use === "em" ? 1 : use === "bbse" ? 2 : 2.5;
}

/** A heading for each kind of prior use. */
export function priorUseTitle(use: PriorUse): string {
  if (use === "known") return "target prior known (oracle)";
  if (use === "none") return "target prior not used";
  return `target prior estimated by ${use.toUpperCase()}`;
}

/** How `variant` uses the target prior, given all variant names of its run. */
export function priorUseOf(variant: string, variants: readonly string[]): PriorUse {
  const product = productVariantUse(variant);
  if (product !== undefined) return product.use;
  const plus = variant.lastIndexOf("+");
  if (plus > 0) return variant.slice(plus + 1);
  if (variants.some((v) => v.startsWith(`${variant}+`))) return "known";
  if ((RULES as readonly string[]).includes(variant)) {
    return usesTargetPrior(variant as typeof RULES[number]) ? "known" : "none";
  }
  return "none";
}

/** The variant's name without its estimator suffix. */
export function baseVariant(variant: string): string {
  const product = productVariantUse(variant);
  if (product !== undefined) return product.base;
  const plus = variant.lastIndexOf("+");
  return plus > 0 ? variant.slice(0, plus) : variant;
}

/** Mean, sample standard deviation (n - 1; 0 for one value) and the values. */
export interface Spread {
  mean: number;
  std: number;
  n: number;
  values: number[];
}

/** The spread of `values` (finite ones only); null when there are none. */
export function spread(values: readonly (number | null | undefined)[]): Spread | null {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.length < 2
    ? 0
    : xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(variance), n: xs.length, values: xs };
}

/** One row of the comparison: a group's variant over the shifted sets. */
export interface CompareEntry {
  /** The group's label. */
  label: string;
  /** The variant (e.g. `pc_softmax+em`). */
  variant: string;
  /** How it uses the target prior. */
  prior: PriorUse;
  /** `label/base variant`: the same series across prior sections (legends, columns). */
  series: string;
  /** Per shifted set, per metric: the spread over the group's runs. */
  cells: Record<string, Partial<Record<CompareMetric, Spread>>>;
  /** Top-1 averaged over the shifted sets per run, then spread over the runs. */
  gridMean: Spread | null;
}

/** A group of runs (a recipe's seeds). */
export interface CompareGroup {
  label: string;
  key: string;
  runs: { source: string; seed: number | null }[];
}

/** The comparison of several runs. */
export interface Comparison {
  /** The shifted sets, in the order of the first run. */
  shifts: string[];
  groups: CompareGroup[];
  entries: CompareEntry[];
}

/**
 * Aggregates runs into groups and entries. A group's runs must cover the
 * same shifted sets; a set a run lacks leaves its cells with fewer values.
 */
export function compareRuns(runs: readonly RunGrid[]): Comparison {
  const shifts: string[] = [];
  for (const r of runs) {
    for (const e of r.evaluations) if (!shifts.includes(e.shift)) shifts.push(e.shift);
  }
  const groups: CompareGroup[] = [];
  const members = new Map<string, RunGrid[]>();
  for (const r of runs) {
    if (!members.has(r.group)) {
      members.set(r.group, []);
      groups.push({ label: r.label, key: r.group, runs: [] });
    }
    members.get(r.group)!.push(r);
    groups.find((g) => g.key === r.group)!.runs.push({ source: r.source, seed: r.seed });
  }
  const entries: CompareEntry[] = [];
  for (const g of groups) {
    const rs = members.get(g.key)!;
    const variants: string[] = [];
    for (const r of rs) {
      for (const e of r.evaluations) {
        for (const v of Object.keys(e.results)) if (!variants.includes(v)) variants.push(v);
      }
    }
    for (const variant of variants) {
      const cells: CompareEntry["cells"] = {};
      for (const shift of shifts) {
        const per = rs.map((r) => r.evaluations.find((e) => e.shift === shift)?.results[variant]);
        const cell: Partial<Record<CompareMetric, Spread>> = {};
        for (const m of COMPARE_METRICS) {
          const s = spread(per.map((x) => x?.[m]));
          if (s) cell[m] = s;
        }
        if (Object.keys(cell).length > 0) cells[shift] = cell;
      }
      const perRunMeans = rs.map((r) => {
        const xs = r.evaluations.map((e) => e.results[variant]?.top1).filter((x) =>
          typeof x === "number"
        ) as number[];
        return xs.length === shifts.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
      });
      entries.push({
        label: g.label,
        variant,
        prior: priorUseOf(variant, variants),
        series: `${g.label}/${baseVariant(variant)}`,
        cells,
        gridMean: spread(perRunMeans),
      });
    }
  }
  const groupIndex = (label: string) => groups.findIndex((g) => g.label === label);
  entries.sort((a, b) =>
    priorUseOrder(a.prior) - priorUseOrder(b.prior) ||
    a.prior.localeCompare(b.prior) ||
    groupIndex(a.label) - groupIndex(b.label)
  );
  return { shifts, groups, entries };
}

/** The sections of a comparison: its prior uses, in order. */
export function priorSections(c: Comparison): PriorUse[] {
  const out: PriorUse[] = [];
  for (const e of c.entries) if (!out.includes(e.prior)) out.push(e.prior);
  return out;
}

/** "92.10 ± 0.31" (or "92.10" for one run, "-" for none). */
export function formatSpread(s: Spread | null | undefined, digits = 2): string {
  if (!s) return "-";
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
}

function sectionRows(c: Comparison, use: PriorUse): { header: string[]; rows: string[][] } {
  const entries = c.entries.filter((e) => e.prior === use);
  const header = ["shift", ...entries.map((e) => e.series)];
  const rows = c.shifts.map((shift) => [
    shift,
    ...entries.map((e) => formatSpread(e.cells[shift]?.top1)),
  ]);
  rows.push(["mean", ...entries.map((e) => formatSpread(e.gridMean))]);
  return { header, rows };
}

/** What the runs are: a line per group (its label, seeds and sources). */
export function describeGroups(c: Comparison): string[] {
  return c.groups.map((g) => {
    const seeds = g.runs.map((r) => r.seed).filter((s): s is number => s !== null);
    const what = seeds.length === g.runs.length
      ? `seed${seeds.length > 1 ? "s" : ""} ${seeds.join(", ")}`
      : `${g.runs.length} run${g.runs.length > 1 ? "s" : ""}`;
    return `${g.label}: ${what} (${g.runs.map((r) => r.source).join(", ")})`;
  });
}

/** The comparison as text: one table of top-1 per prior section, rows the shifted sets. */
export function formatComparison(c: Comparison): string {
  const out = [
    "top-1 accuracy (%) across the shifted test sets: mean ± std over each group's runs",
    ...describeGroups(c).map((l) => `  ${l}`),
  ];
  for (const use of priorSections(c)) {
    const { header, rows } = sectionRows(c, use);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) =>
      r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
    out.push("", priorUseTitle(use), line(header), ...rows.map(line));
  }
  return out.join("\n");
}

/**
 * One table of every entry (the prior sections side by side): columns
 * `label/variant` in the groups' order, each group's known, estimated and
 * prior-free variants in that order; rows the shifted sets, then the grid
 * mean.
 */
function wideRows(c: Comparison): { header: string[]; rows: string[][] } {
  const groupIndex = (label: string) => c.groups.findIndex((g) => g.label === label);
  const entries = [...c.entries].sort((a, b) =>
    groupIndex(a.label) - groupIndex(b.label) ||
    priorUseOrder(a.prior) - priorUseOrder(b.prior) || a.prior.localeCompare(b.prior)
  );
  const header = ["shift", ...entries.map((e) => `${e.label}/${e.variant}`)];
  const rows = c.shifts.map((shift) => [
    shift,
    ...entries.map((e) => formatSpread(e.cells[shift]?.top1)),
  ]);
  rows.push(["mean", ...entries.map((e) => formatSpread(e.gridMean))]);
  return { header, rows };
}

/** The comparison as one table (`compare --wide`): text, or Markdown with `markdown`. */
export function formatWideComparison(c: Comparison, markdown = false): string {
  const { header, rows } = wideRows(c);
  if (markdown) {
    return [
      `| ${header.join(" | ")} |`,
      `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
      ...rows.map((r) => `| ${r.join(" | ")} |`),
    ].join("\n");
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  return [
    "top-1 accuracy (%) across the shifted test sets: mean ± std over each group's runs",
    ...describeGroups(c).map((l) => `  ${l}`),
    "",
    line(header),
    ...rows.map(line),
  ].join("\n");
}

/** The comparison as Markdown: a table per prior section. */
export function comparisonMarkdown(c: Comparison): string {
  const out: string[] = [];
  for (const use of priorSections(c)) {
    const { header, rows } = sectionRows(c, use);
    out.push(
      `${priorUseTitle(use)}:`,
      "",
      `| ${header.join(" | ")} |`,
      `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
      ...rows.map((r) => `| ${r.join(" | ")} |`),
      "",
    );
  }
  return out.join("\n");
}

/**
 * The comparison's tables as HTML, one per use of the target prior, the
 * series' full names in header cells that wrap (so that many long names
 * still fit a 1400-pixel page instead of running off it as a text table).
 */
export function comparisonHtml(c: Comparison): string {
  const out: string[] = [];
  for (const use of priorSections(c)) {
    const { header, rows } = sectionRows(c, use);
    out.push(
      `<h3>${escapeHtml(priorUseTitle(use))}</h3>`,
      '<table class="grid">',
      `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`,
      ...rows.map((r) =>
        `<tr>${
          r.map((v, i) => (i === 0 ? `<th>${escapeHtml(v)}</th>` : `<td>${escapeHtml(v)}</td>`))
            .join("")
        }</tr>`
      ),
      "</table>",
    );
  }
  return out.join("\n");
}

/** The comparison as JSON data (what `compare --json` prints). */
export function comparisonJson(c: Comparison): Record<string, unknown> {
  return {
    metric_note: "cells: mean, sample std (n - 1), n and the values over each group's runs",
    shifts: c.shifts,
    groups: c.groups,
    entries: c.entries.map((e) => ({
      label: e.label,
      variant: e.variant,
      prior: e.prior,
      series: e.series,
      grid_mean: e.gridMean,
      cells: e.cells,
    })),
  };
}
