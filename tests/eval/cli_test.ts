/**
 * `evaluate` and `estimate-prior` on external logits, end to end. The
 * successful runs and one refusal of each command go through the command
 * line (tests/cli.ts); the other refusals call the commands in-process and
 * check the one line main.ts would print for them (lib/cli/errors.ts), which
 * spares a process (and a libtorch load) each.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeNpy, readNpy } from "../../lib/eval/npy.ts";
import { SHIFT_GRID, shiftedCounts, shiftIndices } from "../../lib/data/mod.ts";
import { InputError } from "../../lib/errors.ts";
import { describeError } from "../../lib/cli/errors.ts";
import { evaluateCommand, type EvaluateOptions } from "../../lib/cli/evaluate.ts";
import { estimatePriorCommand, type EstimatePriorOptions } from "../../lib/cli/estimate_prior.ts";
import { lade } from "../cli.ts";

const C = 6;
const PER_CLASS = 40;
const TRAIN = [400, 150, 60, 30, 12, 5];

/** Deterministic pseudo-random logits (an LCG), so the test computes the expected accuracy itself. */
function fixture() {
  const n = C * PER_CLASS;
  const labels = Int32Array.from({ length: n }, (_, i) => i % C);
  const logits = new Float32Array(n * C);
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) logits[i * C + c] = rnd() * 2 + (c === labels[i] ? 1.2 : 0);
  }
  return { labels, logits };
}

async function writeFixtures(dir: string) {
  const { labels, logits } = fixture();
  await Deno.writeFile(
    join(dir, "logits.npy"),
    encodeNpy({ dtype: "float32", shape: [labels.length, C], data: logits }),
  );
  await Deno.writeFile(
    join(dir, "labels.npy"),
    encodeNpy({ dtype: "int64", shape: [labels.length], data: BigInt64Array.from(labels, BigInt) }),
  );
  await Deno.writeTextFile(join(dir, "counts.json"), JSON.stringify(TRAIN));
  return { labels, logits };
}

/** The flags that point `evaluate` / `estimate-prior` at the fixtures in `dir`. */
function fixtureFlags(dir: string): string[] {
  return [
    "--logits",
    join(dir, "logits.npy"),
    "--labels",
    join(dir, "labels.npy"),
    "--train-counts",
    join(dir, "counts.json"),
  ];
}

/** The same, as the commands' options. */
function fixtureOptions(dir: string) {
  return {
    logits: join(dir, "logits.npy"),
    labels: join(dir, "labels.npy"),
    trainCounts: join(dir, "counts.json"),
  };
}

/**
 * How `lade ARGS` ends when `command` (the same command, in-process) fails:
 * the exit status and the one line of main.ts's exitWithError.
 */
async function refusal(
  command: () => Promise<unknown>,
  args: string[],
): Promise<{ code: number; line: string }> {
  try {
    await command();
  } catch (error) {
    const code = error instanceof InputError ? 2 : 1;
    return { code, line: `lade: error: ${describeError(error, args)}` };
  }
  throw new assert.AssertionError({ message: `lade ${args.join(" ")} succeeded` });
}

/** `evaluate` with `options`, in-process (see `refusal`). */
const evaluate = (options: EvaluateOptions) => () => evaluateCommand(options);
/** `estimate-prior` with `options`, in-process (see `refusal`). */
const estimatePrior = (options: EstimatePriorOptions) => () => estimatePriorCommand(options);

/**
 * One `evaluate --shift all --prior em --json --report rep --export-npy out`
 * on the fixtures, shared by the tests that read it (run on first use).
 */
let shared: Promise<{ dir: string; stdout: string }> | undefined;
function gridRun(): Promise<{ dir: string; stdout: string }> {
  shared ??= (async () => {
    const dir = await Deno.makeTempDir();
    await writeFixtures(dir);
    const all = await lade([
      "evaluate",
      ...fixtureFlags(dir),
      "--shift",
      "all",
      "--prior",
      "em",
      "--json",
      "--report",
      join(dir, "rep"),
      "--export-npy",
      join(dir, "out"),
    ]);
    assert.equal(all.code, 0, all.stderr);
    return { dir, stdout: all.stdout };
  })();
  return shared;
}

Deno.test("evaluate --logits ... --shift forward10 --json prints the contract's JSON", async () => {
  const dir = await Deno.makeTempDir();
  const { labels, logits } = await writeFixtures(dir);
  const files = fixtureFlags(dir);
  const r = await lade(["evaluate", ...files, "--shift", "forward10", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.equal(json.shift, "forward10");
  assert.deepEqual(json.counts, shiftedCounts(TRAIN, PER_CLASS, "forward10"));
  assert.deepEqual(Object.keys(json.results).sort(), ["pc_softmax", "softmax"]);
  for (const v of Object.values(json.results) as Record<string, number>[]) {
    for (const k of ["top1", "many", "medium", "few", "ece", "nll", "brier"]) {
      assert.equal(typeof v[k], "number", k);
    }
  }
  // Top-1 of plain softmax, counted here in JS over the shifted samples.
  const idx = shiftIndices(labels, TRAIN, "forward10");
  let correct = 0;
  for (const i of idx) {
    const row = Array.from(logits.subarray(i * C, i * C + C));
    if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
  }
  assert.ok(Math.abs(json.results.softmax.top1 - (100 * correct) / idx.length) < 1e-9);

  // --shift all: one object per grid entry; and a report with plots when asked.
  const grid = await gridRun();
  const arr = JSON.parse(grid.stdout);
  assert.deepEqual(arr.map((e: { shift: string }) => e.shift), [...SHIFT_GRID]);
  assert.ok("pc_softmax+em" in arr[0].results);
  for (
    const f of [
      "results.json",
      "accuracy_grid.svg",
      "reliability.svg",
      "per_class.svg",
      "index.html",
    ]
  ) {
    const text = await Deno.readTextFile(join(grid.dir, "rep", f));
    if (f.endsWith(".svg")) assert.match(text, /^<svg/);
  }
  // A report replaces its folder whole, so never a folder of other things.
  await Deno.mkdir(join(dir, "mine"));
  await Deno.writeTextFile(join(dir, "mine", "notes.txt"), "keep me");
  const refused = await refusal(
    evaluate({ ...fixtureOptions(dir), report: join(dir, "mine") }),
    ["evaluate", ...files, "--report", join(dir, "mine")],
  );
  assert.equal(refused.code, 2);
  assert.match(
    refused.line,
    /^lade: error: --report: .*mine holds other files than a report \(notes\.txt\); give a new or empty folder$/,
  );
  assert.equal(await Deno.readTextFile(join(dir, "mine", "notes.txt")), "keep me");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("estimate-prior and --export-npy through the command line", async () => {
  const dir = await Deno.makeTempDir();
  await writeFixtures(dir);
  const files = fixtureFlags(dir);
  const r = await lade(["estimate-prior", ...files, "--shift", "backward5", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  const truth = shiftedCounts(TRAIN, PER_CLASS, "backward5");
  const total = truth.reduce((a, b) => a + b);
  rep.truth.forEach((p: number, c: number) => assert.ok(Math.abs(p - truth[c] / total) < 1e-12));
  assert.equal(rep.estimate.length, C);
  assert.ok(Math.abs(rep.estimate.reduce((a: number, b: number) => a + b) - 1) < 1e-9);
  assert.ok(rep.l1 >= 0 && rep.kl >= 0 && typeof rep.accuracy.estimated === "number");

  // The shared run exported its logits (--export-npy beside --shift all and --report).
  const grid = await gridRun();
  const back = await readNpy(join(grid.dir, "out", "logits.npy"));
  assert.deepEqual(back.shape, [C * PER_CLASS, C]);
  assert.deepEqual([...back.data.subarray(0, 12)], [...fixture().logits.subarray(0, 12)]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bad input ends in one line and a non-zero exit", async () => {
  const dir = await Deno.makeTempDir();
  await writeFixtures(dir);
  await Deno.writeFile(
    join(dir, "short.npy"),
    encodeNpy({ dtype: "int64", shape: [5], data: new BigInt64Array(5) }),
  );
  await Deno.writeTextFile(join(dir, "bad.npy"), "not numpy at all");
  // Through the command line: one line on stderr, a non-zero exit.
  const r = await lade(["evaluate", "--run", join(dir, "no-such-run")]);
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /run directory .* does not exist/);
  // In-process: the line main.ts prints.
  const base = ["--logits", join(dir, "logits.npy"), "--train-counts", join(dir, "counts.json")];
  const opts = { logits: join(dir, "logits.npy"), trainCounts: join(dir, "counts.json") };
  const cases: [() => Promise<unknown>, string[], RegExp][] = [
    [
      evaluate({ ...opts, labels: join(dir, "labels.npy"), shift: "sideways3" }),
      ["evaluate", ...base, "--labels", join(dir, "labels.npy"), "--shift", "sideways3"],
      /unknown shift 'sideways3'/,
    ],
    [
      evaluate({ ...opts, labels: join(dir, "short.npy") }),
      ["evaluate", ...base, "--labels", join(dir, "short.npy")],
      /rows of logits but 5 labels/,
    ],
    [
      evaluate({ ...opts, labels: join(dir, "bad.npy") }),
      ["evaluate", ...base, "--labels", join(dir, "bad.npy")],
      /not a valid \.npy file/,
    ],
    [
      estimatePrior({
        ...opts,
        labels: join(dir, "labels.npy"),
        shift: "uniform",
        method: "guess",
      }),
      [
        "estimate-prior",
        ...base,
        "--labels",
        join(dir, "labels.npy"),
        "--shift",
        "uniform",
        "--method",
        "guess",
      ],
      /unknown --method/,
    ],
  ];
  for (const [command, args, pattern] of cases) {
    const e = await refusal(command, args);
    assert.notEqual(e.code, 0, args.join(" "));
    assert.match(e.line, /^lade: error: /);
    assert.match(e.line, pattern);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("NaN logits, --model-method with --run, 2-D training counts: one line each", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { labels, logits } = await writeFixtures(dir);
    const nan = logits.slice();
    nan[7] = NaN;
    nan[20] = Infinity;
    await Deno.writeFile(
      join(dir, "nan.npy"),
      encodeNpy({ dtype: "float32", shape: [labels.length, C], data: nan }),
    );
    const flags = fixtureFlags(dir).map((f) => f.endsWith("logits.npy") ? join(dir, "nan.npy") : f);
    const nanMessage =
      /^lade: error: .*nan\.npy: the logits hold 2 NaN or infinite value\(s\) \(a diverged model, or a damaged file\)$/;
    // estimate-prior through the command line, evaluate in-process.
    const r = await lade(["estimate-prior", "--shift", "forward10", ...flags]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), nanMessage);
    const nanOptions = { ...fixtureOptions(dir), logits: join(dir, "nan.npy") };
    const e = await refusal(evaluate(nanOptions), ["evaluate", ...flags]);
    assert.equal(e.code, 2, e.line);
    assert.match(e.line, nanMessage);

    const m = await refusal(
      evaluate({ run: dir, modelMethod: "magic" }),
      ["evaluate", "--run", dir, "--model-method", "magic"],
    );
    assert.equal(m.code, 2, m.line);
    assert.match(m.line, /--model-method applies to --logits only/);
    await Deno.writeFile(
      join(dir, "counts2d.npy"),
      encodeNpy({ dtype: "int64", shape: [2, 3], data: BigInt64Array.from(TRAIN, BigInt) }),
    );
    const counts = fixtureFlags(dir).map((f) =>
      f.endsWith("counts.json") ? join(dir, "counts2d.npy") : f
    );
    const c2 = await refusal(
      evaluate({ ...fixtureOptions(dir), trainCounts: join(dir, "counts2d.npy") }),
      ["evaluate", ...counts],
    );
    assert.equal(c2.code, 2, c2.line);
    assert.match(c2.line, /counts2d\.npy: training counts must be 1-D, got shape \(2, 3\)$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("labels that do not fit a class index are refused, not wrapped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { labels } = await writeFixtures(dir);
    const wrapped = BigInt64Array.from(labels, BigInt);
    wrapped[3] = 2n ** 32n + 1n; // int32 would make it 1, a valid class
    await Deno.writeFile(
      join(dir, "labels.npy"),
      encodeNpy({ dtype: "int64", shape: [labels.length], data: wrapped }),
    );
    const args = ["evaluate", ...fixtureFlags(dir)];
    const r = await refusal(evaluate(fixtureOptions(dir)), args);
    assert.equal(r.code, 2, r.line);
    assert.match(r.line, /labels\.npy: label 4294967297 at index 3 is not a class index$/);
    await Deno.writeTextFile(join(dir, "counts.json"), JSON.stringify([1e300, 5, 3, 2, 2, 1]));
    const c = await refusal(evaluate(fixtureOptions(dir)), args);
    assert.match(c.line, /training counts must be at least two positive integers$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--report or --export-npy naming a file: one line before any prediction", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFixtures(dir);
    await Deno.writeTextFile(join(dir, "file"), "");
    // --report through the command line (nothing printed on stdout), --export-npy in-process.
    const r = await lade(["evaluate", ...fixtureFlags(dir), "--report", join(dir, "file")]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr.trim(), /^lade: error: --report .*file: exists and is not a folder$/);
    const x = await refusal(
      evaluate({ ...fixtureOptions(dir), exportNpy: join(dir, "file") }),
      ["evaluate", ...fixtureFlags(dir), "--export-npy", join(dir, "file")],
    );
    assert.equal(x.code, 2, x.line);
    assert.match(x.line, /^lade: error: --export-npy .*file: exists and is not a folder$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluate --shift-file reproduces the built-in sets: counts, indices, and its own --json output", async () => {
  // The built-in sets' results: the shared run's (--shift all --prior em --json).
  const { dir: shared, stdout } = await gridRun();
  const grid = JSON.parse(stdout) as { shift: string; counts: number[]; results: unknown }[];
  const dir = await Deno.makeTempDir();
  try {
    const { labels } = fixture();
    const files = fixtureFlags(shared);
    const counts = join(dir, "counts_f10.json");
    await Deno.writeTextFile(counts, JSON.stringify(shiftedCounts(TRAIN, PER_CLASS, "forward10")));
    const indices = join(dir, "indices_b5.json");
    await Deno.writeTextFile(
      indices,
      JSON.stringify({ name: "backward5", indices: [...shiftIndices(labels, TRAIN, "backward5")] }),
    );
    for (const [file, shift] of [[counts, "forward10"], [indices, "backward5"]]) {
      const a = grid.find((e) => e.shift === shift)!;
      const fromFile = await lade([
        "evaluate",
        ...files,
        "--shift-file",
        file,
        "--json",
        "--prior",
        "em",
      ]);
      assert.equal(fromFile.code, 0, fromFile.stderr);
      const b = JSON.parse(fromFile.stdout);
      assert.deepEqual(b.counts, a.counts);
      assert.deepEqual(b.results, a.results);
    }
    // The grid's JSON is a shift file of all eleven sets, with the same results.
    await Deno.writeTextFile(join(dir, "grid.json"), stdout);
    const again = await lade([
      "evaluate",
      ...files,
      "--shift-file",
      join(dir, "grid.json"),
      "--prior",
      "em",
      "--json",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), grid);
    const text = await lade(["evaluate", ...files, "--shift-file", counts]);
    assert.match(text.stdout, /shifted sets from .*counts_f10\.json: counts_f10/);
    const both = await refusal(
      evaluate({ ...fixtureOptions(shared), shift: "uniform", shiftFile: counts }),
      ["evaluate", ...files, "--shift", "uniform", "--shift-file", counts],
    );
    assert.notEqual(both.code, 0);
    assert.match(both.line, /either --shift or --shift-file/);
    const none = join(dir, "none.json");
    const bad = await refusal(
      evaluate({ ...fixtureOptions(shared), shiftFile: none }),
      ["evaluate", ...files, "--shift-file", none],
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.line, /^lade: error: shift file .*none\.json not found$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(shared, { recursive: true });
  }
});
