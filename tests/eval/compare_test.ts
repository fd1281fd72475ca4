import assert from "node:assert/strict";
import {
  compareRuns,
  comparisonMarkdown,
  formatComparison,
  formatWideComparison,
  priorUseOf,
  type RunGrid,
  spread,
} from "../../lib/eval/compare.ts";
import { compareGridSpec, compareMeanSpec, renderSvg } from "../../lib/eval/plots.ts";

function run(label: string, seed: number, base: number, variants: string[]): RunGrid {
  return {
    source: `runs/${label}/seed${seed}`,
    group: label,
    label,
    seed,
    evaluations: ["forward10", "uniform", "backward10"].map((shift, k) => ({
      shift,
      results: Object.fromEntries(
        variants.map((v, j) => [v, { top1: base + seed + k + j, ece: 1 + seed }]),
      ),
    })),
  };
}

Deno.test("spread: mean and sample standard deviation (n - 1)", () => {
  const s = spread([1, 2, 3, 4])!;
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-12);
  assert.equal(s.n, 4);
  assert.deepEqual(spread([7]), { mean: 7, std: 0, n: 1, values: [7] });
  assert.equal(spread([null, undefined]), null);
});

Deno.test("how a variant uses the target prior, generically (SADE's variants included)", () => {
  const softmax = ["softmax", "pc_softmax", "pc_softmax+em", "pc_softmax+bbse"];
  assert.deepEqual(softmax.map((v) => priorUseOf(v, softmax)), ["none", "known", "em", "bbse"]);
  assert.equal(priorUseOf("lade", ["lade"]), "known", "lade's own rule without estimates");
  const sade = ["sade_forward", "sade_tta", "sade_tta+em"];
  assert.deepEqual(sade.map((v) => priorUseOf(v, sade)), ["none", "known", "em"]);
  // A product of experts says its prior use in its variants' names.
  const balpoe = ["balpoe", "balpoe_oracle", "balpoe_em", "balpoe_bbse"];
  assert.deepEqual(balpoe.map((v) => priorUseOf(v, balpoe)), ["none", "known", "em", "bbse"]);
});

Deno.test("compare --wide: every variant a column, each group's known, estimated and prior-free in turn", () => {
  const runs = [0, 1].map((s) => run("lade", s, 85, ["lade", "lade+em", "lade_uniform"]));
  runs.push(...[0, 1].map((s) => run("balpoe", s, 86, ["balpoe", "balpoe_oracle", "balpoe_em"])));
  const c = compareRuns(runs);
  const md = formatWideComparison(c, true).split("\n");
  assert.equal(
    md[0],
    "| shift | lade/lade | lade/lade+em | lade/lade_uniform | balpoe/balpoe_oracle | balpoe/balpoe_em | balpoe/balpoe |",
  );
  // balpoe's seeds 0 and 1 on forward10: 86 + s + j, j the variant's place in its run.
  assert.equal(md[2].split(" | ")[4], "87.50 ± 0.71");
  assert.equal(md.length, 2 + 3 + 1, "header, rule, three shifts, the grid mean");
  assert.match(formatWideComparison(c), /mean\s+86\.50 ± 0\.71/);
});

Deno.test("compareRuns: groups of seeds, mean ± std per cell and of the grid mean, sections by prior use", () => {
  const variants = ["softmax", "pc_softmax", "pc_softmax+em"];
  const runs = [0, 1, 2].map((s) => run("softmax", s, 80, variants));
  runs.push(...[0, 1, 2].map((s) => run("lade", s, 85, ["lade", "lade+em", "sade_x"])));
  const c = compareRuns(runs);
  assert.deepEqual(c.shifts, ["forward10", "uniform", "backward10"]);
  assert.deepEqual(c.groups.map((g) => [g.label, g.runs.length]), [["softmax", 3], ["lade", 3]]);
  assert.deepEqual(
    c.entries.map((e) => `${e.prior}:${e.series}`),
    [
      "known:softmax/pc_softmax",
      "known:lade/lade",
      "em:softmax/pc_softmax",
      "em:lade/lade",
      "none:softmax/softmax",
      "none:lade/sade_x",
    ],
  );
  const pc = c.entries.find((e) => e.variant === "pc_softmax")!;
  // Seeds 0, 1, 2 add 0, 1, 2: mean base + 1, std 1.
  assert.deepEqual(pc.cells.uniform!.top1, {
    mean: 80 + 1 + 1 + 1,
    std: 1,
    n: 3,
    values: [82, 83, 84],
  });
  assert.equal(pc.cells.uniform!.ece!.mean, 2);
  // Grid mean per run (80 + s + 1 + mean(0, 1, 2)), then over the seeds.
  assert.deepEqual(pc.gridMean, { mean: 83, std: 1, n: 3, values: [82, 83, 84] });
  const text = formatComparison(c);
  assert.match(text, /target prior known \(oracle\)/);
  assert.match(text, /target prior estimated by EM/);
  assert.match(text, /target prior not used/);
  assert.match(text, /uniform\s+83\.00 ± 1\.00/);
  assert.match(text, /softmax: seeds 0, 1, 2 \(runs\/softmax\/seed0/);
  const md = comparisonMarkdown(c);
  assert.match(md, /\| shift \| softmax\/pc_softmax \| lade\/lade \|/);
  assert.match(md, /\| mean \| 83\.00 ± 1\.00 \| 87\.00 ± 1\.00 \|/);
});

Deno.test("the comparison plots: a line per run/rule with a legend, a panel per prior use", async () => {
  const runs = [0, 1].map((s) => run("softmax", s, 80, ["softmax", "pc_softmax", "pc_softmax+em"]));
  runs.push(run("lade", 0, 85, ["lade", "lade+em"]));
  const c = compareRuns(runs);
  const svg = await renderSvg(compareGridSpec(c));
  for (const label of ["softmax/pc_softmax", "softmax/softmax", "lade/lade", "run / rule"]) {
    assert.ok(svg.includes(`>${label}<`), `legend entry ${label}`);
  }
  for (const title of ["target prior known (oracle)", "target prior estimated by EM"]) {
    assert.ok(svg.includes(title), title);
  }
  const mean = await renderSvg(compareMeanSpec(c));
  assert.ok(mean.includes("softmax/pc_softmax (em)"));
});
