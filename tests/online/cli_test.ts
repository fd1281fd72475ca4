/**
 * `lade evaluate --online` on .npy fixtures (fixture.ts's synthetic logits):
 * the JSON contract, the four schedules, the report's files, and one-line
 * errors for bad input (rounds 0, a marginal that does not sum to 1, a file
 * of the wrong class count, an adapter without labelled data).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeNpy } from "../../lib/eval/npy.ts";
import { gaussianArrays } from "./fixture.ts";
import { lade as ladeIn } from "../cli.ts";

/** `lade ARGS`. */
const lade = (...args: string[]) => ladeIn(args);

async function writePair(dir: string, name: string, perClass: number, seed: number) {
  const { labels, logits } = gaussianArrays(perClass, seed);
  await Deno.writeFile(
    join(dir, `${name}_logits.npy`),
    encodeNpy({ dtype: "float32", shape: [labels.length, 3], data: logits }),
  );
  await Deno.writeFile(
    join(dir, `${name}_labels.npy`),
    encodeNpy({ dtype: "int64", shape: [labels.length], data: BigInt64Array.from(labels, BigInt) }),
  );
}

const dir = await Deno.makeTempDir();
await writePair(dir, "test", 100, 1);
await writePair(dir, "source", 60, 2);
await Deno.writeTextFile(join(dir, "counts.json"), JSON.stringify([300, 100, 30]));
const INPUT = [
  "--logits",
  join(dir, "test_logits.npy"),
  "--labels",
  join(dir, "test_labels.npy"),
  "--train-counts",
  join(dir, "counts.json"),
  "--model-method",
  "lade",
];
const SOURCE = [
  "--source-logits",
  join(dir, "source_logits.npy"),
  "--source-labels",
  join(dir, "source_labels.npy"),
];

Deno.test("evaluate --online monotone --json: the contract's keys, none and oracle among the methods", async () => {
  const r = await lade(
    "evaluate",
    ...INPUT,
    "--online",
    "monotone",
    "--rounds",
    "30",
    "--per-round",
    "5",
    "--json",
  );
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(json), ["schedule", "rounds", "per_round", "methods"]);
  assert.equal(json.schedule, "monotone");
  assert.equal(json.rounds, 30);
  assert.equal(json.per_round, 5);
  // Without labelled data: the adapters are left out, the rest run.
  assert.deepEqual(Object.keys(json.methods), [
    "none",
    "oracle",
    "em-window",
    "em-online",
    "fth",
    "flh-ftl",
  ]);
  for (const m of Object.values(json.methods) as Record<string, unknown>[]) {
    assert.deepEqual(Object.keys(m), ["accuracy", "prior_l1", "regret", "series"]);
    const series = m.series as Record<string, unknown[]>;
    assert.deepEqual(Object.keys(series), ["accuracy", "prior_l1", "regret"]);
    assert.equal(series.accuracy.length, 30);
    // Percent: each round's accuracy is a multiple of 100 / 5.
    assert.ok(series.accuracy.every((a) => Number.isInteger(Number(a) / 20)));
  }
  assert.equal(json.methods.oracle.regret, 0);
  assert.equal(json.methods.oracle.prior_l1, 0);
});

Deno.test("evaluate --online all with labelled data: four schedules, every method, a report", async () => {
  const report = join(dir, "report");
  const r = await lade(
    "evaluate",
    ...INPUT,
    ...SOURCE,
    "--online",
    "all",
    "--rounds",
    "20",
    "--per-round",
    "4",
    "--online-to",
    "onehot:2",
    "--estimator",
    "bbse",
    "--json",
    "--report",
    report,
  );
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.map((s: { schedule: string }) => s.schedule), [
    "monotone",
    "square",
    "sinusoidal",
    "bernoulli",
  ]);
  assert.deepEqual(Object.keys(json[0].methods), [
    "none",
    "oracle",
    "em-window",
    "em-online",
    "fth",
    "flh-ftl",
    "uogd",
    "atlas",
  ]);
  assert.equal(json[0].methods.uogd.prior_l1, null);
  assert.deepEqual([...Deno.readDirSync(report)].map((e) => e.name), ["online"]);
  const files = [...Deno.readDirSync(join(report, "online"))].map((e) => e.name).sort();
  assert.deepEqual(files, [
    "online.html",
    "online.json",
    "online_bernoulli.svg",
    "online_monotone.svg",
    "online_sinusoidal.svg",
    "online_square.svg",
  ]);
  assert.ok(
    Deno.readTextFileSync(join(report, "online", "online_square.svg")).startsWith("<svg"),
  );
});

Deno.test("evaluate --online FILE: a user's marginals, one row per round, as a table", async () => {
  const csv = join(dir, "q.csv");
  await Deno.writeTextFile(csv, "c0,c1,c2\n" + "0.2,0.3,0.5\n".repeat(6));
  const t = await lade("evaluate", ...INPUT, "--online", csv, "--methods", "fth", "--no-report");
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /schedule .*q\.csv: 6 rounds of 10 test images/);
  assert.match(t.stdout, /^oracle +\d+\.\d\d +0\.0000 +0\.00$/m);
  assert.match(t.stdout, /^fth +\d+\.\d\d +\d\.\d{4} +-?\d+\.\d\d$/m);
  assert.doesNotMatch(t.stdout, /^em-window/m);
});

Deno.test("bad input ends in one line: rounds 0, a marginal that does not sum to 1, the wrong class count", async () => {
  const bad = join(dir, "bad.csv");
  await Deno.writeTextFile(bad, "0.2,0.3,0.5\n0.2,0.3,0.4\n");
  const wide = join(dir, "wide.json");
  await Deno.writeTextFile(wide, "[[0.25, 0.25, 0.25, 0.25]]");
  const cases: [string[], RegExp][] = [
    [
      ["--online", "monotone", "--rounds", "0"],
      /invalid --rounds '0': expected a positive integer/,
    ],
    [["--online", bad], /--online: .*bad\.csv: row 2: sums to 0\.9, not 1/],
    [["--online", wide], /--online: .*wide\.json: row 1: has 4 values but the model has 3 classes/],
    [["--online", "square", "--methods", "uogd"], /--methods uogd needs labelled source data/],
    [["--rounds", "5"], /--rounds applies to --online only/],
  ];
  for (const [args, message] of cases) {
    const r = await lade("evaluate", ...INPUT, ...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
  }
});
