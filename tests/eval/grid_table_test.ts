import assert from "node:assert/strict";
import { formatGrid, gridMeans, gridVariants } from "../../lib/eval/grid_table.ts";
import type { ShiftEvaluation } from "../../lib/eval/shifted.ts";
import type { Metrics } from "../../lib/eval/metrics.ts";

function evaluation(shift: string, top1: Record<string, number>): ShiftEvaluation {
  const results: Record<string, Metrics> = {};
  for (const [k, v] of Object.entries(top1)) results[k] = { top1: v } as Metrics;
  return { shift, counts: [], targetPrior: [], results, estimates: {}, rawTop1: 0 };
}

Deno.test("the grid table has a row per shift, a column per variant and the mean", () => {
  const evals = [
    evaluation("forward2", { softmax: 80, pc_softmax: 82.5 }),
    evaluation("uniform", { softmax: 70, pc_softmax: 77.25 }),
  ];
  assert.deepEqual(gridVariants(evals), ["softmax", "pc_softmax"]);
  assert.deepEqual(gridMeans(evals), { softmax: 75, pc_softmax: 79.875 });
  const lines = formatGrid(evals).split("\n");
  assert.equal(lines.length, 5);
  assert.match(lines[1], /^shift\s+softmax\s+pc_softmax$/);
  assert.match(lines[2], /^forward2\s+80\.00\s+82\.50$/);
  assert.match(lines[4], /^mean\s+75\.00\s+79\.88$/);
});
