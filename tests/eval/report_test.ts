/**
 * The run's report (confusion matrix as plot and CSV, per-class CSV with
 * class names, class names on the per-class plot, bin counts on the
 * reliability diagram) and the comparison's (no error bars without a spread,
 * full series names, a page that fits 1400 pixels).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { compareRuns, type RunGrid } from "../../lib/eval/compare.ts";
import { evaluateGrid } from "../../lib/eval/grid.ts";
import { confusionMatrix } from "../../lib/eval/metrics.ts";
import {
  compareGridSpec,
  compareMeanSpec,
  confusionSpec,
  renderSvg,
} from "../../lib/eval/plots.ts";
import {
  headlineVariant,
  reportFocus,
  writeComparisonReport,
  writeReport,
} from "../../lib/eval/report.ts";
import { tensor } from "../../lib/torch/create.ts";

Deno.test("confusion matrix: [true][predicted] counts, by hand", () => {
  using y = tensor(new BigInt64Array([0n, 0n, 1n, 2n, 2n, 2n]), [6], "int64");
  using p = tensor(new BigInt64Array([0n, 2n, 1n, 2n, 0n, 2n]), [6], "int64");
  assert.deepEqual(confusionMatrix(y, p, 3), [[1, 0, 1], [0, 1, 0], [1, 0, 2]]);
});

Deno.test("the report's focus set and headline variant", () => {
  assert.equal(reportFocus(["forward10", "uniform"]), "uniform");
  assert.equal(reportFocus(["set_a", "set_b"]), "set_a");
  assert.equal(headlineVariant(["softmax", "pc_softmax", "pc_softmax+em"]), "pc_softmax");
  assert.equal(headlineVariant(["lade", "lade+bbse"]), "lade");
  assert.equal(headlineVariant(["sade_expert1", "sade_avg", "sade_tta"]), "sade_tta");
  assert.equal(headlineVariant(["sade_expert1", "sade_avg"]), "sade_avg");
  assert.equal(headlineVariant(["focal"]), "focal");
});

/** Logits of 4 classes whose argmax is known: sample i of class y predicts PRED[i % 5][y]. */
const PRED = [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 3, 3], [1, 1, 2, 0], [0, 2, 2, 3]];

function predictions(classNames: string[]) {
  const classes = 4, perClass = 10;
  const n = classes * perClass;
  const logits = new Float32Array(n * classes);
  const labels = new Int32Array(n);
  const argmax: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % classes;
    labels[i] = y;
    const p = PRED[Math.floor(i / classes) % 5][y];
    argmax.push(p);
    // A margin of 10 keeps the argmax under any prior adjustment of these counts.
    for (let c = 0; c < classes; c++) logits[i * classes + c] = c === p ? 10 : c * 0.01;
  }
  return {
    preds: {
      logits: tensor(logits, [n, classes]),
      labels,
      trainCounts: [400, 120, 30, 8],
      method: "softmax",
    },
    argmax,
    classNames,
  };
}

Deno.test("writeReport: confusion plot and CSVs, per-class CSV with names, names and bin counts in plots", async () => {
  const names = ["T-shirt/top", "Trouser, long", 'Pull"over', "Ankle boot"];
  const { preds, argmax } = predictions(names);
  const dir = await Deno.makeTempDir();
  try {
    const evals = evaluateGrid(preds, { confusionOf: "uniform" }, ["forward10", "uniform"]);
    const files = await writeReport(dir, evals, {
      method: "softmax",
      dataset: "toy",
      trainCounts: preds.trainCounts,
      classNames: names,
    });
    const base = files.map((f) => f.slice(dir.length + 1)).sort();
    assert.deepEqual(base, [
      "accuracy_grid.svg",
      "confusion.svg",
      "confusion_pc_softmax.csv",
      "confusion_softmax.csv",
      "index.html",
      "per_class.csv",
      "per_class.svg",
      "reliability.svg",
      "results.json",
    ]);
    // The confusion matrix of the uniform set, counted here from the argmax (uniform keeps
    // every test image: 10 of each class).
    const want = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    preds.labels.forEach((y, i) => want[y][argmax[i]]++);
    const rows = (await Deno.readTextFile(join(dir, "confusion_softmax.csv"))).trimEnd().split(
      "\n",
    );
    assert.equal(rows[0], 'true \\ predicted,T-shirt/top,"Trouser, long","Pull""over",Ankle boot');
    assert.deepEqual(rows.slice(1).map((r) => r.split(",").slice(-4).map(Number)), want);
    // Per class: name, training images, test images, top-1 per variant.
    const pc = (await Deno.readTextFile(join(dir, "per_class.csv"))).trimEnd().split("\n");
    assert.equal(pc[0], "class,name,train_images,test_images,top1_softmax,top1_pc_softmax");
    assert.equal(
      pc[2],
      `1,"Trouser, long",120,10,${(100 * want[1][1]) / 10},${(100 * want[1][1]) / 10}`,
    );
    // results.json carries no confusion matrix (C x C numbers live in the CSVs).
    assert.ok(!(await Deno.readTextFile(join(dir, "results.json"))).includes("confusion"));
    // The plots: class names with their counts, the reliability bins' counts.
    const perClass = await Deno.readTextFile(join(dir, "per_class.svg"));
    assert.ok(perClass.includes(">Ankle boot (8)<"), "class names on the per-class plot");
    const reliability = await Deno.readTextFile(join(dir, "reliability.svg"));
    const uniform = evals.find((e) => e.shift === "uniform")!;
    const counts = uniform.results.pc_softmax.reliability.filter((b) => b.count > 0);
    assert.ok(counts.length > 0);
    for (const b of counts) assert.ok(reliability.includes(`>${b.count}<`), `bin count ${b.count}`);
    assert.ok(reliability.includes("samples (pc_softmax)"));
    const confusion = await Deno.readTextFile(join(dir, "confusion.svg"));
    assert.ok(confusion.includes("Confusion matrix (pc_softmax, uniform)"));
    assert.ok(confusion.includes(">3 Ankle boot<"));
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.ok(html.includes('<img src="confusion.svg">') && html.includes("per_class.csv"));
  } finally {
    preds.logits.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("names from the user's files are text in index.html, never markup", async () => {
  const { preds, classNames } = predictions(["a", "b", "c", "d"]);
  const dir = await Deno.makeTempDir();
  try {
    // A shift set named in a user's shift file, and a dataset name, both markup.
    const evals = evaluateGrid(preds, {}, ["uniform"]).map((e) => ({
      ...e,
      shift: "<script>alert(1)</script>",
    }));
    await writeReport(dir, evals, {
      method: "softmax",
      dataset: `<img src=x onerror="alert(2)">`,
      trainCounts: preds.trainCounts,
      classNames,
    });
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.doesNotMatch(html, /<script|<img src=x/);
    assert.match(html, /<td>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/td>/);
    assert.match(html, /<h1>&lt;img src=x onerror=&quot;alert\(2\)&quot;&gt;, softmax<\/h1>/);
  } finally {
    preds.logits.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the confusion matrix is drawn up to 100 classes; beyond, it is in the CSV only", async () => {
  const matrix = Array.from({ length: 3 }, (_, t) => [0, 1, 2].map((p) => (p === t ? 5 : 1)));
  const svg = await renderSvg(confusionSpec(matrix, ["a", "b", "c"], "lade", "uniform"));
  // Row shares: 5 of 7 on the diagonal, written as counts in the cells.
  assert.ok(svg.includes(">5<") && svg.includes(">0 a<"));
});

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

/** Lines and paths drawn by the error-bar rules of a rendered comparison plot. */
function errorBarStrokes(svg: string): number {
  // An empty mark group is self-closing (<g .../>).
  const groups = svg.match(/<g class="mark-rule role-mark[^>]*?(\/>|>.*?<\/g>)/gs) ?? [];
  return groups.reduce((n, g) => n + (g.match(/<line|<path/g) ?? []).length, 0);
}

Deno.test("comparison plots: error bars only for groups of several runs; one run, none", async () => {
  const single = compareRuns([run("softmax", 0, 80, ["softmax", "pc_softmax"])]);
  const seeds = compareRuns([0, 1].map((s) => run("softmax", s, 80, ["softmax", "pc_softmax"])));
  for (const spec of [compareGridSpec, compareMeanSpec]) {
    const one = await renderSvg(spec(single));
    assert.equal(errorBarStrokes(one), 0, "no zero-width ± std bar for a single run");
    assert.ok(one.includes(">one run each<"));
    const two = await renderSvg(spec(seeds));
    assert.ok(errorBarStrokes(two) > 0, "a spread is drawn");
    assert.ok(two.includes("mean ± std over seeds"));
  }
});

Deno.test("comparison page: full rule names, and no plot wider than a 1400-pixel page", async () => {
  const long = (k: number) => `cifar100-lt lade (runs/ablation_alpha_0.${k}_lambda_0.5_long_name)`;
  const runs = [0, 1, 2, 3].flatMap((k) =>
    [0, 1].map((s) => run(long(k), s, 70 + k, ["lade", "lade+em", "lade+bbse", "lade_uniform"]))
  );
  const c = compareRuns(runs);
  const dir = await Deno.makeTempDir();
  try {
    await writeComparisonReport(dir, c);
    for (const name of ["accuracy_grid.svg", "grid_mean.svg"]) {
      const svg = await Deno.readTextFile(join(dir, name));
      const width = Number(/<svg[^>]* width="([\d.]+)"/.exec(svg)![1]);
      assert.ok(width <= 1336, `${name} is ${width} px wide`);
      assert.ok(!svg.includes("…"), `${name}: no name cut short`);
      assert.ok(svg.includes(`${long(3)}/lade`), `${name} names the series in full`);
    }
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.ok(html.includes(`<th>${long(2)}/lade</th>`), "the tables name the series in full");
    assert.ok(html.includes("max-width:1336px"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compare: two evaluation files of the same name stay two lines (their folders tell them apart)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, top1] of [["a", 60], ["b", 70]] as const) {
      await Deno.mkdir(join(dir, name));
      const evals = ["forward10", "uniform"].map((shift) => ({
        shift,
        results: { softmax: { top1 }, pc_softmax: { top1: top1 + 5 } },
      }));
      await Deno.writeTextFile(join(dir, name, "eval.json"), JSON.stringify(evals));
    }
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        main,
        "compare",
        join(dir, "a/eval.json"),
        join(dir, "b/eval.json"),
        "--json",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const json = JSON.parse(new TextDecoder().decode(out.stdout));
    const series = json.entries.map((e: { series: string }) => e.series).sort();
    assert.deepEqual(series, [
      "a/eval/pc_softmax",
      "a/eval/softmax",
      "b/eval/pc_softmax",
      "b/eval/softmax",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
