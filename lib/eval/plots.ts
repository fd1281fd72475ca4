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

/**
 * Reliability diagram: accuracy against mean confidence per bin, per variant,
 * with the diagonal; below it, how many samples each bin of `variant` (the
 * report's headline rule) holds, so a point resting on a handful of samples
 * can be told from one resting on thousands.
 */
export function reliabilitySpec(e: ShiftEvaluation, variant?: string): vl.TopLevelSpec {
  const values = Object.entries(e.results).flatMap(([name, m]) =>
    m.reliability.filter((b) => b.count > 0).map((b) => ({
      variant: name,
      confidence: b.confidence,
      accuracy: b.accuracy,
      count: b.count,
    }))
  );
  const counted = variant !== undefined && e.results[variant] ? variant : Object.keys(e.results)[0];
  const bins = (e.results[counted]?.reliability ?? []).filter((b) => b.count > 0).map((b) => ({
    lower: b.lower,
    upper: b.upper,
    middle: (b.lower + b.upper) / 2,
    count: b.count,
  }));
  const x = { scale: { domain: [0, 1] }, title: "confidence" };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Reliability (${e.shift}; 20 equal-width bins)`,
    vconcat: [
      {
        width: 400,
        height: 320,
        layer: [
          {
            data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
            mark: { type: "line", color: "#999", strokeDash: [4, 4] },
            encoding: {
              x: { field: "x", type: "quantitative", ...x },
              y: { field: "y", type: "quantitative", scale: { domain: [0, 1] }, title: "accuracy" },
            },
          },
          {
            data: { values },
            mark: { type: "line", point: true },
            encoding: {
              x: { field: "confidence", type: "quantitative" },
              y: { field: "accuracy", type: "quantitative" },
              color: { field: "variant", type: "nominal", legend: { labelLimit: 0 } },
              tooltip: [{ field: "variant" }, { field: "accuracy" }, { field: "count" }],
            },
          },
        ],
      },
      {
        width: 400,
        height: 90,
        data: { values: bins },
        layer: [
          {
            mark: { type: "bar", color: "#bbb", stroke: "white", strokeWidth: 0.5 },
            encoding: {
              x: { field: "lower", type: "quantitative", ...x },
              x2: { field: "upper" },
              y: {
                field: "count",
                type: "quantitative",
                title: `samples (${counted})`,
                axis: { tickCount: 3 },
              },
              y2: { datum: 0 },
            },
          },
          {
            mark: { type: "text", angle: 270, align: "left", dx: 3, fontSize: 9 },
            encoding: {
              x: { field: "middle", type: "quantitative" },
              y: { field: "count", type: "quantitative" },
              text: { field: "count", type: "quantitative" },
            },
          },
        ],
      },
    ],
  };
}

/** Classes whose names the per-class plot and the confusion matrix write out (beyond, none). */
export const NAMED_CLASSES_LIMIT = 60;

/**
 * Per-class accuracy, the classes along the x-axis from the most training
 * images to the fewest, each named with its training count ("Trouser
 * (3596)"; numbers alone beyond NAMED_CLASSES_LIMIT classes), per variant.
 */
export function perClassSpec(
  e: ShiftEvaluation,
  trainCounts: readonly number[],
  classNames: readonly string[],
): vl.TopLevelSpec {
  const classes = trainCounts.length;
  const named = classes <= NAMED_CLASSES_LIMIT;
  const label = (c: number) => `${classNames[c] ?? c} (${trainCounts[c]})`;
  // Most training images first; ties by class index (as the shift ranking).
  const order = Array.from({ length: classes }, (_, c) => c)
    .sort((a, b) => trainCounts[b] - trainCounts[a] || a - b);
  const rank = new Map(order.map((c, i) => [c, i]));
  const values = Object.entries(e.results).flatMap(([variant, m]) =>
    m.perClass.flatMap((acc, c) =>
      acc === null ? [] : [{
        variant,
        class: label(c),
        rank: rank.get(c)!,
        count: trainCounts[c],
        accuracy: acc,
      }]
    )
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Per-class accuracy (${e.shift}), classes by training images, most first`,
    width: Math.min(1100, Math.max(480, 16 * classes)),
    height: 280,
    data: { values },
    mark: { type: "line", point: true, strokeWidth: 1 },
    encoding: {
      x: named
        ? {
          field: "class",
          type: "ordinal",
          sort: order.map(label),
          title: "class (training images)",
          axis: { labelAngle: -60, labelLimit: 0 },
        }
        : {
          field: "rank",
          type: "quantitative",
          title: `class rank by training images (${classes} classes; names in per_class.csv)`,
        },
      y: { field: "accuracy", type: "quantitative", title: "accuracy (%)" },
      color: { field: "variant", type: "nominal", legend: { labelLimit: 0 } },
      tooltip: [{ field: "class" }, { field: "count" }, { field: "variant" }, {
        field: "accuracy",
      }],
    },
  };
}

/** The most classes the confusion matrix is drawn for (the CSV has any number). */
export const CONFUSION_PLOT_LIMIT = 100;

/**
 * The confusion matrix of `variant`: true class down, predicted class across,
 * each cell coloured by its share of the true class's samples (a row sums
 * to 100%), with the counts written in when there are few classes.
 */
export function confusionSpec(
  matrix: readonly (readonly number[])[],
  classNames: readonly string[],
  variant: string,
  shift: string,
): vl.TopLevelSpec {
  const classes = matrix.length;
  const named = classes <= NAMED_CLASSES_LIMIT;
  // "3 Dress"; the index alone where the name is the index (or beyond the named limit).
  const name = (c: number) =>
    named && classNames[c] !== undefined && classNames[c] !== String(c)
      ? `${c} ${classNames[c]}`
      : String(c);
  const values = matrix.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((n, p) => ({
      truth: name(t),
      predicted: name(p),
      count: n,
      share: total > 0 ? (100 * n) / total : 0,
    }));
  });
  const cell = Math.max(4, Math.min(28, Math.floor(640 / classes)));
  const order = Array.from({ length: classes }, (_, c) => name(c));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Confusion matrix (${variant}, ${shift}): share of each true class's samples`,
    width: cell * classes,
    height: cell * classes,
    data: { values },
    layer: [
      {
        mark: "rect",
        encoding: {
          x: {
            field: "predicted",
            type: "ordinal",
            sort: order,
            title: "predicted class",
            axis: { labels: classes <= CONFUSION_PLOT_LIMIT, labelLimit: 0, labelAngle: -60 },
          },
          y: {
            field: "truth",
            type: "ordinal",
            sort: order,
            title: "true class",
            axis: { labels: classes <= CONFUSION_PLOT_LIMIT, labelLimit: 0 },
          },
          color: {
            field: "share",
            type: "quantitative",
            scale: { scheme: "blues", domain: [0, 100] },
            title: "% of row",
          },
          tooltip: [{ field: "truth" }, { field: "predicted" }, { field: "count" }, {
            field: "share",
            format: ".1f",
          }],
        },
      },
      ...(classes <= 20
        ? [{
          mark: { type: "text" as const, fontSize: 9 },
          encoding: {
            x: { field: "predicted", type: "ordinal" as const, sort: order },
            y: { field: "truth", type: "ordinal" as const, sort: order },
            text: { field: "count", type: "quantitative" as const },
            color: {
              condition: { test: "datum.share > 50", value: "white" },
              value: "black",
            },
          },
        }]
        : []),
    ],
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

/** Whether any entry of the comparison has more than one run (a spread to draw). */
function hasSpread(c: Comparison): boolean {
  return c.entries.some((e) =>
    (e.gridMean?.n ?? 0) > 1 || Object.values(e.cells).some((m) => (m.top1?.n ?? 0) > 1)
  );
}

/** The title's note on what the points are: means with spreads, or single runs. */
function spreadNote(c: Comparison): string {
  return hasSpread(c)
    ? "mean ± std over seeds; bars where a group has several runs"
    : "one run each";
}

/**
 * Top-1 across the shifted sets for several runs: one panel per use of the
 * target prior (known, estimated, not used), each group's variant its own
 * line (mean over the group's runs) with error bars (± std) where the group
 * has more than one run (a single run has no spread: no bar), and the legend
 * below the panels with the series' full names (the page stays within
 * 1400 pixels however long the names).
 */
export function compareGridSpec(c: Comparison): vl.TopLevelSpec {
  const sections = priorSections(c).map(priorUseTitle);
  const series = [...new Set(c.entries.map((e) => e.series))];
  const width = Math.max(220, Math.min(380, Math.floor(1150 / Math.max(1, sections.length)) - 40));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Top-1 accuracy across target label distributions",
      subtitle: spreadNote(c),
      anchor: "start",
    },
    data: { values: compareRows(c) },
    facet: {
      column: {
        field: "prior",
        type: "nominal",
        sort: sections,
        title: null,
        header: { labelLimit: 0, labelFontSize: 12 },
      },
    },
    spec: {
      width,
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
              legend: {
                title: "run / rule",
                orient: "bottom",
                direction: "vertical",
                columns: series.length > 8 ? 2 : 1,
                labelLimit: 0,
              },
            },
            tooltip: [{ field: "series" }, { field: "shift" }, { field: "mean" }, {
              field: "runs",
            }],
          },
        },
        {
          transform: [{ filter: "datum.runs > 1" }],
          mark: { type: "errorbar", ticks: { size: 10 } },
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

/**
 * The grid mean of every entry (± std over the runs where there are
 * several), coloured by the use of the target prior; rows named in full.
 */
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
        runs: e.gridMean.n,
      }]
      : []
  );
  const rows = values.map((v) => v.row);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Top-1 averaged over the shifted sets",
      subtitle: spreadNote(c),
      anchor: "start",
    },
    width: 420,
    height: { step: 18 },
    data: { values },
    layer: [
      {
        mark: { type: "point", filled: true, size: 60 },
        encoding: {
          y: { field: "row", type: "nominal", sort: rows, title: null, axis: { labelLimit: 0 } },
          x: {
            field: "mean",
            type: "quantitative",
            title: "mean top-1 over the grid (%)",
            scale: { zero: false, padding: 12 },
          },
          color: {
            field: "prior",
            type: "nominal",
            sort: sections,
            legend: {
              title: "target prior",
              orient: "bottom",
              direction: "vertical",
              columns: 2,
              labelLimit: 0,
            },
          },
          tooltip: [{ field: "row" }, { field: "mean" }, { field: "runs" }],
        },
      },
      {
        transform: [{ filter: "datum.runs > 1" }],
        mark: { type: "errorbar", ticks: { size: 10 } },
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
