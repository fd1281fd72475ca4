/**
 * The test suite, in parallel (`deno task test` runs it after the format,
 * lint and type checks).
 *
 * The test files are dealt into shards, each a `deno test` process of its
 * own (separate processes: libtorch's thread count, seed and live-handle
 * counts are per process, so tests in different shards cannot disturb each
 * other), run side by side: by default one shard per CPU core, at least 2.
 * Files are dealt longest first onto the least loaded shard, by the times in
 * tests/durations.json (`deno run -A scripts/test.ts --record` rewrites it
 * from a run; a file it does not list counts as a few seconds). Files
 * listed in SERIAL would run afterwards, alone (for tests a neighbour would
 * disturb; there are none).
 *
 * Each shard's output is printed whole when it ends (no interleaving), then
 * one summary line in `deno test`'s own format (`ok | N passed | M failed |
 * K ignored (time)`) and the slowest tests with their times. Exit status 1
 * when any test failed.
 *
 *     deno run -A scripts/test.ts                  # the whole suite
 *     deno run -A scripts/test.ts tests/eval/      # some files or folders
 *     deno run -A scripts/test.ts --jobs 3 --record
 */

import { parseArgs } from "node:util";
import { join, relative } from "node:path";
import { EXEC_MARKER_ENV, findAllocatorLibrary, planAllocator } from "../lib/torch/allocator.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DURATIONS = join(ROOT, "tests/durations.json");
/**
 * The doc tests (the JSDoc examples of the library, the README's code
 * blocks) in units dealt out like test files: one per folder of lib/, one
 * for the files at its top, one for mod.ts and the README. A unit is
 * `doc:` and its paths.
 */
async function docUnits(): Promise<string[]> {
  const units = ["doc:mod.ts README.md"];
  const top: string[] = [];
  for await (const e of Deno.readDir(join(ROOT, "lib"))) {
    if (e.isDirectory) units.push(`doc:lib/${e.name}/`);
    else if (e.name.endsWith(".ts")) top.push(`lib/${e.name}`);
  }
  units.push(`doc:${top.sort().join(" ")}`);
  return units.sort();
}

/** The unit a test case belongs to: its test file, or the doc unit holding its source. */
function unitOf(file: string, units: readonly string[]): string {
  if (file.endsWith("_test.ts")) return file;
  const source = file.replace(/\$\d+-\d+\.ts$|#\d+-\d+\.ts$/, "");
  return units.find((u) =>
    u.startsWith("doc:") &&
    u.slice(4).split(" ").some((p) => p.endsWith("/") ? source.startsWith(p) : source === p)
  ) ?? file;
}
/**
 * Files that would measure time and run after the shards, alone. None now:
 * the tests that time a distributed timeout assert it relative to the
 * timeout (not before it; long before it; given up within a wide margin),
 * which a loaded machine does not upset.
 */
const SERIAL: readonly string[] = [];
/** The time a file missing from durations.json is assumed to take (seconds). */
const UNKNOWN_SECONDS = 3;

const { values: flags, positionals } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string" },
    record: { type: "boolean" },
    slowest: { type: "string" },
  },
  allowPositionals: true,
});

/** Every *_test.ts under `dir`, relative to the root. */
async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await testFiles(path));
    else if (e.isFile && e.name.endsWith("_test.ts")) out.push(path);
  }
  return out.sort();
}

/** One test case's outcome, from a JUnit report. */
interface Case {
  file: string;
  name: string;
  seconds: number;
  outcome: "passed" | "failed" | "ignored";
}

/** The test cases of a JUnit report as `deno test --junit-path` writes it. */
function parseJunit(xml: string): Case[] {
  const cases: Case[] = [];
  const unescape = (s: string) =>
    s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
  const re =
    /<testcase name="([^"]*)" classname="([^"]*)" time="([\d.]+)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[5] ?? "";
    cases.push({
      file: unescape(m[2]).replace(/^\.\//, ""),
      name: unescape(m[1]),
      seconds: Number(m[3]),
      outcome: /<failure/.test(body) ? "failed" : /<skipped/.test(body) ? "ignored" : "passed",
    });
  }
  return cases;
}

/** A duration as `deno test` prints it: 850ms, 12s, 3m20s. */
function duration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
}

/**
 * The environment of the shards: the allocator lade's entry would preload
 * (lib/torch/allocator.ts) already in `LD_PRELOAD`, with the marker that it
 * is lade's choice, so that the tests run as lade does and the many
 * `deno run main.ts` children of the tests do not each start twice; and
 * OMP_NUM_THREADS (1 unless set).
 */
function shardEnv(): Record<string, string> {
  const plan = planAllocator({
    env: (k) => Deno.env.get(k),
    pid: Deno.pid,
    find: findAllocatorLibrary,
  });
  // One libtorch thread a process unless a test asks for more (`--threads`):
  // the shards share the cores, OpenMP threads that spin while another
  // process holds the core only slow both down, and commands whose default
  // follows the machine's load then compute the same numbers whatever the
  // neighbours do.
  const threads = Deno.env.get("OMP_NUM_THREADS") ?? "1";
  if (plan.action !== "exec") return { OMP_NUM_THREADS: threads };
  return {
    LD_PRELOAD: plan.preload ?? "",
    [EXEC_MARKER_ENV]: String(Deno.pid),
    OMP_NUM_THREADS: threads,
  };
}
const SHARD_ENV = shardEnv();

/** Runs one `deno test` over `units`; resolves with its output and JUnit cases. */
async function runShard(
  units: string[],
  junit: string,
): Promise<{ code: number; output: string; cases: Case[]; summary: string }> {
  // Type-checked already, all at once, by `deno task test` (each shard would check lib/ again).
  const args = ["test", "-A", "--no-check", `--junit-path=${junit}`];
  // (--doc runs the examples of every path given; test files have none.)
  if (units.some((u) => u.startsWith("doc:"))) args.push("--doc");
  for (const u of units) args.push(...(u.startsWith("doc:") ? u.slice(4) : u).split(" "));
  const proc = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: SHARD_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = await proc;
  const dec = new TextDecoder();
  const output = dec.decode(out.stdout) + dec.decode(out.stderr);
  const cases = await Deno.readTextFile(junit).then(parseJunit).catch(() => []);
  // deno-lint-ignore no-control-regex
  const summary = output.replace(/\x1b\[[0-9;]*m/g, "").split("\n")
    .filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l)).pop() ?? "";
  return { code: out.code, output, cases, summary };
}

/** The steps counted in a summary line ("338 passed (6 steps)"). */
function summaryNumbers(
  line: string,
): { passed: number; steps: number; failed: number; ignored: number } {
  const n = (re: RegExp) => Number(re.exec(line)?.[1] ?? 0);
  return {
    passed: n(/(\d+) passed/),
    steps: n(/passed \((\d+) steps?\)/),
    failed: n(/(\d+) failed/),
    ignored: n(/(\d+) ignored/),
  };
}

const started = performance.now();
const cores = navigator.hardwareConcurrency ?? 2;
const jobs = Math.max(1, Number(flags.jobs ?? Math.max(2, cores)));
let files: string[];
const docs = await docUnits();
if (positionals.length === 0) {
  files = [...docs, ...await testFiles("tests")];
} else {
  files = [];
  for (const p of positionals) {
    const rel = relative(ROOT, join(Deno.cwd(), p));
    const info = await Deno.stat(join(ROOT, rel));
    files.push(...(info.isDirectory ? await testFiles(rel) : [rel]));
  }
}
const known: Record<string, number> = JSON.parse(
  await Deno.readTextFile(DURATIONS).catch(() => "{}"),
);
const weight = (f: string) => known[f] ?? UNKNOWN_SECONDS;
const parallel = files.filter((f) => !SERIAL.includes(f)).sort((a, b) => weight(b) - weight(a));
const serial = files.filter((f) => SERIAL.includes(f));
const shards: { units: string[]; load: number }[] = Array.from(
  { length: Math.min(jobs, Math.max(1, parallel.length)) },
  () => ({ units: [], load: 0 }),
);
for (const f of parallel) {
  const s = shards.reduce((a, b) => (b.load < a.load ? b : a));
  s.units.push(f);
  s.load += weight(f);
}

const tmp = await Deno.makeTempDir({ prefix: "lade-test-" });
try {
  const results = await Promise.all(
    shards.filter((s) => s.units.length > 0).map(async (s, k) => {
      const r = await runShard(s.units, join(tmp, `shard${k}.xml`));
      console.log(
        `\n==== shard ${k + 1} of ${shards.length} (${s.units.length} files)\n${r.output}`,
      );
      return r;
    }),
  );
  if (serial.length > 0) {
    const r = await runShard(serial, join(tmp, "serial.xml"));
    console.log(`\n==== alone, as they measure time (${serial.length} files)\n${r.output}`);
    results.push(r);
  }
  const totals = { passed: 0, steps: 0, failed: 0, ignored: 0 };
  for (const r of results) {
    const n = summaryNumbers(r.summary);
    totals.passed += n.passed;
    totals.steps += n.steps;
    totals.failed += n.failed;
    totals.ignored += n.ignored;
  }
  // A shard that died before its summary (a crash) fails the suite.
  const crashed = results.filter((r) => r.code !== 0 && summaryNumbers(r.summary).failed === 0);
  const ok = totals.failed === 0 && crashed.length === 0;
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `\n${ok ? "ok" : "FAILED"} | ${totals.passed} passed` +
      (totals.steps > 0 ? ` (${totals.steps} steps)` : "") +
      ` | ${totals.failed} failed | ${totals.ignored} ignored (${duration(seconds)})`,
  );
  if (crashed.length > 0) console.log(`${crashed.length} shard(s) ended without a summary`);
  const cases = results.flatMap((r) => r.cases).filter((c) => c.outcome !== "ignored");
  const n = Number(flags.slowest ?? 10);
  console.log(`\nslowest tests:`);
  for (const c of [...cases].sort((a, b) => b.seconds - a.seconds).slice(0, n)) {
    console.log(`  ${c.seconds.toFixed(1).padStart(6)} s  ${c.file}: ${c.name}`);
  }
  if (flags.record) {
    const perFile: Record<string, number> = {};
    // A test's time includes its steps' (`parent > step` cases in the report).
    const names = new Set(cases.map((c) => `${c.file}\0${c.name}`));
    const isStep = (c: Case) => {
      const parts = c.name.split(" > ");
      return parts.some((_, i) =>
        i > 0 && names.has(`${c.file}\0${parts.slice(0, i).join(" > ")}`)
      );
    };
    for (const c of cases.filter((c) => !isStep(c))) {
      const unit = unitOf(c.file, docs);
      perFile[unit] = Math.round(((perFile[unit] ?? 0) + c.seconds) * 10) / 10;
    }
    const sorted = Object.fromEntries(Object.entries(perFile).sort(([a], [b]) => a < b ? -1 : 1));
    await Deno.writeTextFile(DURATIONS, JSON.stringify(sorted, null, 2) + "\n");
    console.log(
      `\nrecorded ${Object.keys(sorted).length} files' times in ${relative(ROOT, DURATIONS)}`,
    );
  }
  if (!ok) Deno.exitCode = 1;
} finally {
  await Deno.remove(tmp, { recursive: true });
}
