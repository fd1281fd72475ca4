/**
 * The online evaluation's plot (Vega-Lite, rendered to SVG by
 * lib/eval/plots.ts): accuracy and the error of the estimated prior over the
 * rounds, one line per method, and the true label distribution q_t beneath
 * as stacked areas (one band per class). A round holds a few samples, so
 * the accuracy is a centred moving average over `smooth` rounds.
 *
 * @module
 */

import type * as vl from "vega-lite";
import type { OnlineResult } from "./evaluate.ts";

/** The centred moving average of `values` over `window` points (fewer at the ends). */
export function movingAverage(values: readonly number[], window: number): number[] {
  const half = Math.floor(Math.max(1, window) / 2);
  const prefix = [0];
  for (const v of values) prefix.push(prefix[prefix.length - 1] + v);
  return values.map((_, i) => {
    const lo = Math.max(0, i - half);
    const hi = Math.min(values.length, i + half + 1);
    return (prefix[hi] - prefix[lo]) / (hi - lo);
  });
}

/** The default smoothing window: about a 25th of the stream, at least 1 round. */
export function defaultSmoothing(rounds: number): number {
  return Math.max(1, Math.round(rounds / 25));
}

/**
 * The plot of one stream's results: accuracy (moving average over `smooth`
 * rounds), prior L1 error per round (methods that use a prior), and q_t.
 */
export function onlineSpec(
  r: OnlineResult,
  classNames: readonly string[] = [],
  smooth = defaultSmoothing(r.rounds),
): vl.TopLevelSpec {
  const methods = Object.keys(r.methods);
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  const accuracy = methods.flatMap((method) =>
    movingAverage(r.methods[method].series.accuracy, smooth).map((a, t) => ({
      method,
      round: t,
      accuracy: round(a),
    }))
  );
  const error = methods.flatMap((method) =>
    r.methods[method].series.priorL1.flatMap((e, t) =>
      e === null ? [] : [{ method, round: t, l1: round(e) }]
    )
  );
  const q = r.marginals.flatMap((row, t) =>
    row.map((p, c) => ({ round: t, class: classNames[c] ?? String(c), order: c, q: round(p) }))
  );
  const width = 560;
  const x = { field: "round", type: "quantitative", title: "round" } as const;
  // One colour per method in both panels (the error panel lacks the adapters).
  const color = {
    field: "method",
    type: "nominal",
    scale: { domain: methods },
    legend: { title: "method" },
  } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Online label shift: ${r.schedule}, ${r.rounds} rounds of ${r.perRound}`,
    vconcat: [
      {
        width,
        height: 200,
        title: `accuracy (%), moving average over ${smooth} rounds`,
        data: { values: accuracy },
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x,
          y: {
            field: "accuracy",
            type: "quantitative",
            title: "accuracy (%)",
            scale: { zero: false },
          },
          color,
        },
      },
      {
        width,
        height: 150,
        title: "L1 error of the prior predicted with",
        data: { values: error },
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x,
          y: { field: "l1", type: "quantitative", title: "|prior - q_t|_1" },
          color,
        },
      },
      {
        width,
        height: 120,
        title: "true label distribution q_t",
        data: { values: q },
        mark: { type: "area" },
        encoding: {
          x,
          y: {
            field: "q",
            type: "quantitative",
            stack: "zero",
            title: "q_t",
            scale: { domain: [0, 1] },
          },
          color: {
            field: "class",
            type: "nominal",
            sort: { field: "order" },
            scale: { scheme: "tableau20" },
            legend: { title: "class", columns: 2 },
          },
          order: { field: "order" },
        },
      },
    ],
    resolve: { scale: { color: "independent" } },
  };
}
