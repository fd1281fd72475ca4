/**
 * Shot-group accuracies are means over classes while top-1 counts samples:
 * the tables say so in their headers, and a group without a figure says why
 * instead of showing a bare dash.
 */
import assert from "node:assert/strict";
import { formatEvaluation } from "../../lib/cli/evaluate.ts";
import { notApplicable } from "../../lib/cli/shot_columns.ts";
import type { Metrics } from "../../lib/eval/metrics.ts";
import type { ShiftEvaluation } from "../../lib/eval/evaluation.ts";

function metrics(few: number | null): Metrics {
  return {
    top1: 75,
    top5: 100,
    many: 80,
    medium: 60,
    few,
    perClass: [80, 60],
    ece: 5,
    nll: 0.5,
    brier: 0.3,
    reliability: [],
  };
}

function evaluation(few: number | null): ShiftEvaluation {
  return {
    shift: "uniform",
    counts: [1, 3],
    targetPrior: [0.25, 0.75],
    results: { softmax: metrics(few) },
    estimates: {},
    rawTop1: 75,
  };
}

Deno.test("evaluate's table: the header says what counts samples and what averages classes", () => {
  const text = formatEvaluation(evaluation(null), [200, 50]);
  const lines = text.split("\n");
  assert.equal(lines[0], "shift uniform: 4 test samples");
  assert.match(lines[1], /^variant\s+top1\s+top5\s+many\s+medium\s+few\s+ECE\s+NLL\s+Brier$/);
  assert.match(lines[2], /^mean over\s+sample\s+sample\s+class\s+class\s+class$/);
  // The columns line up: "class" under "many".
  assert.equal(lines[2].indexOf("class") + 5, lines[1].indexOf("many") + 4);
  assert.match(lines[3], /^softmax\s+75\.00\s+100\.00\s+80\.00\s+60\.00\s+n\/a\s+5\.00/);
  assert.equal(lines[4], "few: n/a (no class with < 20 training images)");
  assert.ok(!/ - /.test(text), "no bare dash");
  // A group whose classes have no test sample in this set.
  assert.match(
    formatEvaluation(evaluation(null), [200, 50, 5]),
    /^few: n\/a \(no test sample of its classes in this set\)$/m,
  );
  assert.ok(!formatEvaluation(evaluation(40), [200, 50, 5]).includes("n/a"));
  assert.equal(notApplicable("many", [5, 30]), "n/a (no class with > 100 training images)");
  assert.equal(notApplicable("medium", [5, 300]), "n/a (no class with 20 to 100 training images)");
  // One test sample: "1 test sample".
  assert.match(
    formatEvaluation({ ...evaluation(1), counts: [1, 0] }),
    /^shift uniform: 1 test sample$/m,
  );
});
