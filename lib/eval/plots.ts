/**
 * The report's plots as Vega-Lite specs, rendered to SVG headless with
 * Vega's SVG renderer (`view.toSVG()`).
 *
 * @module
 */

import * as vega from "vega";
import * as vl from "vega-lite";
import type { ShiftEvaluation } from "./shifted.ts";
import { type Comparison, priorSections, priorUseTitle } from "./compare.ts";

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Top-1 accuracy of every variant across the shifted test sets, in grid order. */
export function accuracyGridSpec(evals: readonly ShiftEvaluation[]): vl.TopLevelSpec {
  const values = evals.flatMap((e) =>
    Object.entries(e.results).map(([variant, m]) => ({ shift: e.shift, variant, top1: m.top1 }))
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Top-1 accuracy across target label distributions",
    width: 480,
    height: 280,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "shift",
        type: "ordinal",
        sort: evals.map((e) => e.shift),
        title: "target distribution",
      },
      y: {
        field: "top1",
        type: "quantitative",
        title: "top-1 accuracy (%)",
        scale: { zero: false },
      },
      color: { field: "variant", type: "nominal" },
    },
  };
}

/** Reliability diagram: accuracy against mean confidence per bin, per variant, with the diagonal. */
export function reliabilitySpec(e: ShiftEvaluation): vl.TopLevelSpec {
  const values = Object.entries(e.results).flatMap(([variant, m]) =>
    m.reliability.filter((b) => b.count > 0).map((b) => ({
      variant,
      confidence: b.confidence,
      accuracy: b.accuracy,
      count: b.count,
    }))
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Reliability (${e.shift}; 20 equal-width bins)`,
    width: 320,
    height: 320,
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: "line", color: "#999", strokeDash: [4, 4] },
        encoding: {
          x: { field: "x", type: "quantitative", scale: { domain: [0, 1] }, title: "confidence" },
          y: { field: "y", type: "quantitative", scale: { domain: [0, 1] }, title: "accuracy" },
        },
      },
      {
        data: { values },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "confidence", type: "quantitative" },
          y: { field: "accuracy", type: "quantitative" },
          color: { field: "variant", type: "nominal" },
        },
      },
    ],
  };
}

/** Per-class accuracy against the class's training count (log scale), per variant. */
export function perClassSpec(
  e: ShiftEvaluation,
  trainCounts: readonly number[],
  classNames: readonly string[],
): vl.TopLevelSpec {
  const values = Object.entries(e.results).flatMap(([variant, m]) =>
    m.perClass.flatMap((acc, c) =>
      acc === null
        ? []
        : [{ variant, class: classNames[c] ?? String(c), count: trainCounts[c], accuracy: acc }]
    )
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Per-class accuracy against training count (${e.shift})`,
    width: 480,
    height: 280,
    data: { values },
    mark: { type: "point", filled: true },
    encoding: {
      x: { field: "count", type: "quantitative", scale: { type: "log" }, title: "training images" },
      y: { field: "accuracy", type: "quantitative", title: "accuracy (%)" },
      color: { field: "variant", type: "nominal" },
      tooltip: [{ field: "class" }, { field: "accuracy" }],
    },
  };
}

/** The data rows of the comparison plots: one per (entry, shifted set). */
function compareRows(c: Comparison) {
  return c.entries.flatMap((e) =>
    c.shifts.flatMap((shift) => {
      const s = e.cells[shift]?.top1;
      return s
        ? [{
          prior: priorUseTitle(e.prior),
          series: e.series,
          shift,
          mean: s.mean,
          lo: s.mean - s.std,
          hi: s.mean + s.std,
          runs: s.n,
        }]
        : [];
    })
  );
}

/**
 * Top-1 across the shifted sets for several runs: one panel per use of the
 * target prior (known, estimated, not used), each group's variant its own
 * line (mean over the group's runs) with error bars (± std) and a legend.
 */
export function compareGridSpec(c: Comparison): vl.TopLevelSpec {
  const sections = priorSections(c).map(priorUseTitle);
  const series = [...new Set(c.entries.map((e) => e.series))];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Top-1 accuracy across target label distributions (mean ± std over seeds)",
    data: { values: compareRows(c) },
    facet: { column: { field: "prior", type: "nominal", sort: sections, title: null } },
    spec: {
      width: 300,
      height: 240,
      layer: [
        {
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "shift", type: "ordinal", sort: c.shifts, title: "target distribution" },
            y: {
              field: "mean",
              type: "quantitative",
              title: "top-1 accuracy (%)",
              scale: { zero: false },
            },
            color: {
              field: "series",
              type: "nominal",
              sort: series,
              legend: { title: "run / rule", labelLimit: 320 },
            },
            tooltip: [{ field: "series" }, { field: "shift" }, { field: "mean" }, {
              field: "runs",
            }],
          },
        },
        {
          mark: { type: "errorbar", ticks: true },
          encoding: {
            x: { field: "shift", type: "ordinal", sort: c.shifts },
            y: { field: "lo", type: "quantitative", title: "top-1 accuracy (%)" },
            y2: { field: "hi" },
            color: { field: "series", type: "nominal", sort: series },
          },
        },
      ],
    },
  };
}

/** The grid mean of every entry (± std over the runs), coloured by the use of the target prior. */
export function compareMeanSpec(c: Comparison): vl.TopLevelSpec {
  const sections = priorSections(c).map(priorUseTitle);
  const values = c.entries.flatMap((e) =>
    e.gridMean
      ? [{
        row: `${e.series} (${e.prior})`,
        prior: priorUseTitle(e.prior),
        mean: e.gridMean.mean,
        lo: e.gridMean.mean - e.gridMean.std,
        hi: e.gridMean.mean + e.gridMean.std,
      }]
      : []
  );
  const rows = values.map((v) => v.row);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Top-1 averaged over the shifted sets (mean ± std over seeds)",
    width: 360,
    data: { values },
    layer: [
      {
        mark: { type: "point", filled: true, size: 60 },
        encoding: {
          y: { field: "row", type: "nominal", sort: rows, title: null },
          x: {
            field: "mean",
            type: "quantitative",
            title: "mean top-1 over the grid (%)",
            scale: { zero: false },
          },
          color: {
            field: "prior",
            type: "nominal",
            sort: sections,
            legend: { title: "target prior", labelLimit: 320 },
          },
        },
      },
      {
        mark: { type: "errorbar", ticks: true },
        encoding: {
          y: { field: "row", type: "nominal", sort: rows },
          x: { field: "lo", type: "quantitative", title: "mean top-1 over the grid (%)" },
          x2: { field: "hi" },
          color: { field: "prior", type: "nominal", sort: sections },
        },
      },
    ],
  };
}
