/**
 * The report's plots as Vega-Lite specs, rendered to SVG headless with
 * Vega's SVG renderer (`view.toSVG()`).
 *
 * @module
 */

import * as vega from "vega";
import * as vl from "vega-lite";
import type { ShiftEvaluation } from "./shifted.ts";

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
