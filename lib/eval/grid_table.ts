/**
 * The shift grid as one compact text table: a row per shifted test set, a
 * column per prediction variant (top-1, %), and the mean over the grid.
 *
 * @module
 */

import type { ShiftEvaluation } from "./shifted.ts";

/** The variants of a grid, in first-seen order. */
export function gridVariants(evals: readonly ShiftEvaluation[]): string[] {
  const names: string[] = [];
  for (const e of evals) {
    for (const v of Object.keys(e.results)) if (!names.includes(v)) names.push(v);
  }
  return names;
}

/** Mean top-1 (%) over the grid, per variant. */
export function gridMeans(evals: readonly ShiftEvaluation[]): Record<string, number> {
  const means: Record<string, number> = {};
  for (const v of gridVariants(evals)) {
    const xs = evals.map((e) => e.results[v]?.top1).filter((x): x is number => x !== undefined);
    means[v] = xs.reduce((a, b) => a + b, 0) / xs.length;
  }
  return means;
}

/** Formats top-1 (%) per shift and variant, with a mean row. */
export function formatGrid(evals: readonly ShiftEvaluation[]): string {
  const variants = gridVariants(evals);
  const header = ["shift", ...variants];
  const rows = evals.map((e) => [
    e.shift,
    ...variants.map((v) => e.results[v]?.top1?.toFixed(2) ?? "-"),
  ]);
  const means = gridMeans(evals);
  rows.push(["mean", ...variants.map((v) => means[v].toFixed(2))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return ["top-1 accuracy (%) across the shift grid", line(header), ...rows.map(line)].join("\n");
}

/**
 * A multi-expert (SADE) model's test-time aggregation weights per shift, one
 * row each: the weight of every expert and the epochs run.
 */
export function formatAggregation(evals: readonly ShiftEvaluation[]): string {
  const rows = evals.filter((e) => e.aggregation !== undefined);
  if (rows.length === 0) return "";
  const experts = rows[0].aggregation!.weights.length;
  const header = [
    "shift",
    ...Array.from({ length: experts }, (_, e) => `expert${e + 1}`),
    "epochs",
  ];
  const cells = rows.map((e) => [
    e.shift,
    ...e.aggregation!.weights.map((w) => w.toFixed(3)),
    String(e.aggregation!.epochs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    "test-time aggregation weights (learned on each shifted set's unlabelled images, transductive)",
    line(header),
    ...cells.map(line),
  ].join("\n");
}
