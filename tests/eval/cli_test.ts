import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeNpy, readNpy } from "../../lib/eval/npy.ts";
import { SHIFT_GRID, shiftedCounts, shiftIndices } from "../../lib/data/mod.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
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

async function lade(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
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

Deno.test("evaluate --logits ... --shift forward10 --json prints the contract's JSON", async () => {
  const dir = await Deno.makeTempDir();
  const { labels, logits } = await writeFixtures(dir);
  const files = fixtureFlags(dir);
  const r = await lade("evaluate", ...files, "--shift", "forward10", "--json");
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
  const all = await lade(
    "evaluate",
    ...files,
    "--shift",
    "all",
    "--prior",
    "em",
    "--json",
    "--report",
    join(dir, "rep"),
  );
  assert.equal(all.code, 0, all.stderr);
  const arr = JSON.parse(all.stdout);
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
    const text = await Deno.readTextFile(join(dir, "rep", f));
    if (f.endsWith(".svg")) assert.match(text, /^<svg/);
  }
  // A report replaces its folder whole, so never a folder of other things.
  await Deno.mkdir(join(dir, "mine"));
  await Deno.writeTextFile(join(dir, "mine", "notes.txt"), "keep me");
  const refused = await lade("evaluate", ...files, "--report", join(dir, "mine"));
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr.trim(),
    /^lade: error: --report: .*mine holds other files than a report \(notes\.txt\); give a new or empty folder$/,
  );
  assert.equal(await Deno.readTextFile(join(dir, "mine", "notes.txt")), "keep me");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("estimate-prior and --export-npy through the command line", async () => {
  const dir = await Deno.makeTempDir();
  await writeFixtures(dir);
  const files = fixtureFlags(dir);
  const r = await lade("estimate-prior", ...files, "--shift", "backward5", "--json");
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  const truth = shiftedCounts(TRAIN, PER_CLASS, "backward5");
  const total = truth.reduce((a, b) => a + b);
  rep.truth.forEach((p: number, c: number) => assert.ok(Math.abs(p - truth[c] / total) < 1e-12));
  assert.equal(rep.estimate.length, C);
  assert.ok(Math.abs(rep.estimate.reduce((a: number, b: number) => a + b) - 1) < 1e-9);
  assert.ok(rep.l1 >= 0 && rep.kl >= 0 && typeof rep.accuracy.estimated === "number");

  const x = await lade("evaluate", ...files, "--export-npy", join(dir, "out"), "--json");
  assert.equal(x.code, 0, x.stderr);
  const back = await readNpy(join(dir, "out", "logits.npy"));
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
  const base = ["--logits", join(dir, "logits.npy"), "--train-counts", join(dir, "counts.json")];
  const cases: [string[], RegExp][] = [
    [
      ["evaluate", ...base, "--labels", join(dir, "labels.npy"), "--shift", "sideways3"],
      /unknown shift 'sideways3'/,
    ],
    [["evaluate", "--run", join(dir, "no-such-run")], /run directory .* does not exist/],
    [["evaluate", ...base, "--labels", join(dir, "short.npy")], /rows of logits but 5 labels/],
    [["evaluate", ...base, "--labels", join(dir, "bad.npy")], /not a valid \.npy file/],
    [[
      "estimate-prior",
      ...base,
      "--labels",
      join(dir, "labels.npy"),
      "--shift",
      "uniform",
      "--method",
      "guess",
    ], /unknown --method/],
  ];
  for (const [args, pattern] of cases) {
    const r = await lade(...args);
    assert.notEqual(r.code, 0, args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], pattern);
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
    for (const command of [["evaluate"], ["estimate-prior", "--shift", "forward10"]]) {
      const r = await lade(...command, ...flags);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr.trim(),
        /^lade: error: .*nan\.npy: the logits hold 2 NaN or infinite value\(s\) \(a diverged model, or a damaged file\)$/,
      );
    }
    const r = await lade("evaluate", "--run", dir, "--model-method", "magic");
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /--model-method applies to --logits only/);
    await Deno.writeFile(
      join(dir, "counts2d.npy"),
      encodeNpy({ dtype: "int64", shape: [2, 3], data: BigInt64Array.from(TRAIN, BigInt) }),
    );
    const counts = fixtureFlags(dir).map((f) =>
      f.endsWith("counts.json") ? join(dir, "counts2d.npy") : f
    );
    const c2 = await lade("evaluate", ...counts);
    assert.equal(c2.code, 2, c2.stderr);
    assert.match(
      c2.stderr.trim(),
      /counts2d\.npy: training counts must be 1-D, got shape \(2, 3\)$/,
    );
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
    const r = await lade("evaluate", ...fixtureFlags(dir));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /labels\.npy: label 4294967297 at index 3 is not a class index$/);
    await Deno.writeTextFile(join(dir, "counts.json"), JSON.stringify([1e300, 5, 3, 2, 2, 1]));
    const c = await lade("evaluate", ...fixtureFlags(dir));
    assert.match(c.stderr.trim(), /training counts must be at least two positive integers$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--report or --export-npy naming a file: one line before any prediction", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFixtures(dir);
    await Deno.writeTextFile(join(dir, "file"), "");
    for (const flag of ["--report", "--export-npy"]) {
      const r = await lade("evaluate", ...fixtureFlags(dir), flag, join(dir, "file"));
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr.trim(),
        new RegExp(`^lade: error: ${flag} .*file: exists and is not a folder$`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evaluate --shift-file reproduces the built-in sets: counts, indices, and its own --json output", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { labels } = await writeFixtures(dir);
    const files = fixtureFlags(dir);
    const counts = join(dir, "counts_f10.json");
    await Deno.writeTextFile(counts, JSON.stringify(shiftedCounts(TRAIN, PER_CLASS, "forward10")));
    const indices = join(dir, "indices_b5.json");
    await Deno.writeTextFile(
      indices,
      JSON.stringify({ name: "backward5", indices: [...shiftIndices(labels, TRAIN, "backward5")] }),
    );
    for (const [file, shift] of [[counts, "forward10"], [indices, "backward5"]]) {
      const builtIn = await lade("evaluate", ...files, "--shift", shift, "--json", "--prior", "em");
      const fromFile = await lade(
        "evaluate",
        ...files,
        "--shift-file",
        file,
        "--json",
        "--prior",
        "em",
      );
      assert.equal(fromFile.code, 0, fromFile.stderr);
      const a = JSON.parse(builtIn.stdout), b = JSON.parse(fromFile.stdout);
      assert.deepEqual(b.counts, a.counts);
      assert.deepEqual(b.results, a.results);
    }
    // The grid's JSON is a shift file of all eleven sets, with the same results.
    const grid = await lade("evaluate", ...files, "--shift", "all", "--json");
    await Deno.writeTextFile(join(dir, "grid.json"), grid.stdout);
    const again = await lade(
      "evaluate",
      ...files,
      "--shift-file",
      join(dir, "grid.json"),
      "--json",
    );
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), JSON.parse(grid.stdout));
    const text = await lade("evaluate", ...files, "--shift-file", counts);
    assert.match(text.stdout, /shifted sets from .*counts_f10\.json: counts_f10/);
    const both = await lade("evaluate", ...files, "--shift", "uniform", "--shift-file", counts);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /either --shift or --shift-file/);
    const bad = await lade("evaluate", ...files, "--shift-file", join(dir, "none.json"));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr.trim(), /^lade: error: shift file .*none\.json not found$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
