/**
 * The fuzz harness (scripts/fuzz.ts): a small fixed-seed slice over every
 * reader runs here (in a child process, so that a native crash fails this
 * test instead of ending the suite), and the harness itself is shown to
 * report a reader that throws something other than the library's error.
 */

import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { type FuzzSummary, mutate, runFuzz, TARGETS } from "../../scripts/fuzz.ts";

const script = new URL("../../scripts/fuzz.ts", import.meta.url).pathname;

Deno.test("fuzz slice: every reader loads or refuses each mutant with a LadeError", async () => {
  const cases = 25;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--seed", "1", "--cases", String(cases), "--json", "--verbose"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  });
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  // On a crash the last "fuzz: <reader> #<case>" line names the mutant.
  assert.equal(out.code, 0, stderr.split("\n").slice(-5).join("\n"));
  const summary = JSON.parse(new TextDecoder().decode(out.stdout)) as FuzzSummary;
  assert.deepEqual(summary.findings, []);
  assert.deepEqual(Object.keys(summary.counts), TARGETS.map((t) => t.name));
  for (const [name, c] of Object.entries(summary.counts)) {
    assert.equal(c.loaded + c.refused, cases, name);
    assert.ok(c.refused > 0, `${name}: no mutant was refused (the mutations do nothing?)`);
  }
});

Deno.test("fuzz harness: mutants are seeded; a reader throwing a TypeError is a finding", async () => {
  const input = new TextEncoder().encode("some valid input of a reader");
  const draw = (seed: number) => {
    let a = seed;
    return () => ((a = (a * 1103515245 + 12345) % 2147483648) / 2147483648);
  };
  assert.deepEqual(mutate(input, draw(3)), mutate(input, draw(3)));
  const summary = await runFuzz({
    seed: 2,
    cases: 20,
    targets: [{
      name: "fragile",
      seeds: () => Promise.resolve([input]),
      read: (bytes) => {
        if (bytes.length < input.length) throw new InputError("too short");
        if (bytes.length > input.length) throw new TypeError("cannot read properties of undefined");
        return Promise.resolve();
      },
    }],
  });
  assert.ok(summary.findings.length > 0);
  assert.ok(summary.findings.every((f) => f.kind === "exception" && /TypeError/.test(f.detail)));
  const c = summary.counts.fragile;
  assert.equal(c.loaded + c.refused + summary.findings.length, 20);
});

Deno.test("deno task fuzz --help prints its usage; a bad flag is one line, exit 2", async () => {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "fuzz", ...args],
      cwd: new URL("../..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const help = await run("--help");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^deno task fuzz \[--seed N\]/);
  // Every reader is named, the structure-aware ones among them.
  for (const t of TARGETS) assert.ok(help.stdout.includes(t.name), t.name);
  for (const name of ["pickle-ops", "tensor-views", "safetensors-header", "yaml-depth"]) {
    assert.ok(TARGETS.some((t) => t.name === name && t.generate !== undefined), name);
  }
  const bad = await run("--bogus");
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr.trim().split("\n").pop()!,
    /^fuzz: Unknown option '--bogus' \(see --help\)$/,
  );
});
